//! Option pricers (being written).
