//! Flex dates: the formats read, and the day/month order of slash dates,
//! inferred per file.

use chrono::NaiveDate;
use exfee_model::InputError;

use super::{FlexReader, Spot};
use crate::csvin::{Fields, Row};

/// A date as read. A slash date whose day and month are both 12 or less
/// (`03/01/2027`) reads as `date` month-first and as `day_first` day-first;
/// the file's other dates decide (see [`DateOrder`]).
#[derive(Debug, Copy, Clone)]
pub(super) struct DateField {
    pub(super) date: NaiveDate,
    pub(super) day_first: Option<NaiveDate>,
    pub(super) location: Spot,
}

/// What a file's slash dates show about their order: the first date that
/// can only be day-first (`20/11/2026`) and the first that can only be
/// month-first (`11/20/2026`).
#[derive(Debug, Default, Copy, Clone)]
pub(super) struct DateOrder {
    pub(super) day_first: Option<Spot>,
    pub(super) month_first: Option<Spot>,
}

/// Which of day and month comes first in a slash date.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
pub(super) enum DayOrder {
    DayFirst,
    MonthFirst,
}

impl FlexReader {
    /// A date field of `row` (`None` when empty), noting what it shows
    /// about the file's date order.
    pub(super) fn date(
        &mut self,
        row: &Row<'_>,
        column: &'static str,
    ) -> Result<Option<DateField>, InputError> {
        let text = row.text(column)?;
        // `MULTI`: a summary over several dates (XML `reportDate`).
        if text.is_empty() || text.eq_ignore_ascii_case("MULTI") {
            return Ok(None);
        }
        let location = self.spot(row, Some(column));
        self.date_text(text, location)
            .map(Some)
            .map_err(|reason| row.error(column, reason))
    }

    /// [`FlexReader::date`] of a text read at `location`.
    pub(super) fn date_text(&mut self, text: &str, location: Spot) -> Result<DateField, String> {
        let (date, day_first, order) = parse_flex_date(text)?;
        let seen = &mut self.orders[location.file];
        match order {
            Some(DayOrder::DayFirst) => {
                seen.day_first.get_or_insert(location);
            }
            Some(DayOrder::MonthFirst) => {
                seen.month_first.get_or_insert(location);
            }
            None => {}
        }
        Ok(DateField {
            date,
            day_first,
            location,
        })
    }
}

/// Parses `yyyyMMdd`, `yyyy-MM-dd`, `yyyy/MM/dd`, `MM/dd/yyyy` or
/// `dd/MM/yyyy` (also with a two-digit year), `dd-MMM-yy` or `dd-MMM-yyyy`,
/// with an optional `;time` that is ignored. Returns the date (month-first
/// for a slash date that reads both ways), its day-first reading when it
/// reads both ways, and the order a slash date proves (a day above 12).
pub(super) fn parse_flex_date(
    text: &str,
) -> Result<(NaiveDate, Option<NaiveDate>, Option<DayOrder>), String> {
    let date = text.split(';').next().unwrap_or_default().trim();
    let parts: Vec<&str> = date.split(['-', '/']).collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bad = || {
        format!(
            "{text:?} is not a date (yyyyMMdd, yyyy-MM-dd, yyyy/MM/dd, MM/dd/yyyy, dd/MM/yyyy, \
             MM/dd/yy, dd/MM/yy or dd-MMM-yy)"
        )
    };
    let parse = |format: &str| NaiveDate::parse_from_str(date, format).ok();
    if let [a, b, y] = parts.as_slice()
        && date.contains('/')
        && a.len() <= 2
        && b.len() <= 2
        && digits(a)
        && digits(b)
        && digits(y)
        && (y.len() == 4 || y.len() == 2)
    {
        let (a, b): (u32, u32) = (a.parse().unwrap_or(99), b.parse().unwrap_or(99));
        let year = if y.len() == 4 { "%Y" } else { "%y" };
        let month_first = parse(&format!("%m/%d/{year}"));
        let day_first = parse(&format!("%d/%m/{year}"));
        return match (month_first, day_first) {
            (Some(m), Some(d)) if m == d => Ok((m, None, None)),
            (Some(m), Some(d)) => Ok((m, Some(d), None)),
            (Some(m), None) if b > 12 => Ok((m, None, Some(DayOrder::MonthFirst))),
            (None, Some(d)) if a > 12 => Ok((d, None, Some(DayOrder::DayFirst))),
            _ => Err(bad()),
        };
    }
    let format = match parts.as_slice() {
        [compact] if compact.len() == 8 && digits(compact) => Some("%Y%m%d"),
        [y, _, _] if y.len() == 4 && digits(y) && date.contains('-') => Some("%Y-%m-%d"),
        [y, _, _] if y.len() == 4 && digits(y) => Some("%Y/%m/%d"),
        [_, month, y] if date.contains('-') && !digits(month) && y.len() == 4 => Some("%d-%b-%Y"),
        [_, month, y] if date.contains('-') && !digits(month) && y.len() == 2 => Some("%d-%b-%y"),
        _ => None,
    };
    format
        .and_then(parse)
        .map(|d| (d, None, None))
        .ok_or_else(bad)
}

/// The date a [`DateField`] stands for, given its file's date order: a
/// date that reads both ways needs the file to prove one order and not the
/// other.
pub(super) fn resolve_date(
    field: &DateField,
    orders: &[DateOrder],
    files: &[String],
) -> Result<NaiveDate, InputError> {
    let Some(day_first) = field.day_first else {
        return Ok(field.date);
    };
    let order = orders[field.location.file];
    match (order.day_first, order.month_first) {
        (Some(_), None) => Ok(day_first),
        (None, Some(_)) => Ok(field.date),
        (None, None) => Err(InputError::at(
            field.location.at(files),
            format!(
                "ambiguous date format: {} (MM/dd) or {day_first} (dd/MM), and no date of the \
                 file has a day above 12 to tell (use yyyyMMdd in the Flex Query)",
                field.date
            ),
        )),
        (Some(d), Some(m)) => Err(InputError::at(
            field.location.at(files),
            format!(
                "ambiguous date format: {} (MM/dd) or {day_first} (dd/MM), and the file has \
                 both a day-first date (at {}) and a month-first one (at {})",
                field.date,
                d.at(files),
                m.at(files)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_date_format_is_read() {
        let expected = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        for text in [
            "20270115",
            "2027-01-15",
            "2027/01/15",
            "01/15/2027",
            "01/15/27",
            "1/15/2027",
            "15-Jan-27",
            "15-JAN-27",
            "15-jan-2027",
            "20270115;162000",
        ] {
            assert_eq!(parse_flex_date(text).map(|d| d.0), Ok(expected), "{text}");
        }
        for bad in [
            "2027011",
            "2027-13-01",
            "15.01.2027",
            "Jan 15 2027",
            "15-01-27",
            "27-01-15",
        ] {
            assert!(parse_flex_date(bad).is_err(), "{bad} accepted");
        }
        // A day above 12 proves the order; a slash date that reads both ways
        // gives both readings and proves nothing.
        let day_first = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(
            parse_flex_date("20/11/2026"),
            Ok((day_first, None, Some(DayOrder::DayFirst)))
        );
        assert_eq!(
            parse_flex_date("11/20/2026"),
            Ok((day_first, None, Some(DayOrder::MonthFirst)))
        );
        let (march, january) = (
            NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2027, 1, 3).unwrap(),
        );
        assert_eq!(
            parse_flex_date("03/01/2027"),
            Ok((march, Some(january), None))
        );
        let same = NaiveDate::from_ymd_opt(2027, 5, 5).unwrap();
        assert_eq!(parse_flex_date("05/05/2027"), Ok((same, None, None)));
        assert!(parse_flex_date("13/13/2027").is_err());
    }
}
