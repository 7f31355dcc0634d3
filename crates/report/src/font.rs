//! The bundled font (DejaVu Sans, Bitstream Vera licence in `fonts/`): text
//! layout and bitmap text need no system font. Its own module, so the chart
//! drawing (`chart.rs`) and the bitmap backend (`bitmap.rs`) both depend on
//! it and not on each other.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::style::FontStyle;

use crate::ReportError;

/// The family name the charts ask plotters for.
pub(crate) const FONT: &str = "sans-serif";

/// The font file's bytes.
static FONT_DATA: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Registers the bundled font with plotters as [`FONT`] (once).
pub(crate) fn ensure_font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_DATA).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Chart(
            "the bundled font could not be read".into(),
        ))
    }
}

/// The bundled font for drawing glyphs (`None` if it could not be read).
pub(crate) fn font() -> Option<&'static FontRef<'static>> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT_DATA).ok())
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ab_glyph::Font;

    #[test]
    fn the_bundled_font_reads_and_registers() {
        let f = font().expect("DejaVu Sans parses");
        // DejaVu Sans has a glyph for every character the reports draw,
        // the minus sign and the ellipsis included.
        for c in ['0', 'A', '&', '−', '…'] {
            assert_ne!(f.glyph_id(c).0, 0, "{c:?} has a glyph");
        }
        assert!(ensure_font().is_ok());
    }
}
