//! The report as a document: a header, key figures and sections of blocks
//! (paragraphs, lists, tables, figures) whose text is already worded and
//! formatted. [`Document::from_report`] (in `build.rs`) writes it once from an
//! [`crate::AccountReport`]; the HTML and Markdown renderers only lay it out
//! and escape it, so a sentence, a column or a rounding is changed in one
//! place for every format.
//!
//! Every type here is plain data (serde both ways), so a document can be
//! built in one process and rendered in another.

use serde::{Deserialize, Serialize};

/// One piece of running text and how it is marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Span {
    /// The report's own wording (labels, sentences): written as is; HTML
    /// escapes only `&`, `<` and `>`.
    Words(String),
    /// Text that comes from data (ids, names, formatted amounts): escaped
    /// for each format.
    Data(String),
    /// Strong in every format (`<strong>`, `**…**`).
    Strong(Vec<Span>),
    /// The figure a sentence or row leads to: strong in HTML, plain in
    /// Markdown (whose source stays readable as text).
    Key(Vec<Span>),
    /// Said only in text formats (Markdown): HTML shows it elsewhere (the
    /// tier table's total row) and leaves it out of the sentence.
    TextOnly(Vec<Span>),
    /// A fee status (`clear`, `grace`, `charged`): a coloured badge in HTML,
    /// escaped text in Markdown.
    Status(String),
}

/// A run of spans: one line of text.
pub type Inline = Vec<Span>;

/// The report's own words as one span.
pub fn words(text: impl Into<String>) -> Span {
    Span::Words(text.into())
}

/// Data text as one span.
pub fn data(text: impl Into<String>) -> Span {
    Span::Data(text.into())
}

/// The whole report: header fields, key figures, sections in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Document {
    /// `Exposure Fee Calculation report`.
    pub title: String,
    /// The account id (data: escaped when shown).
    pub account: String,
    /// Valuation date, `YYYY-MM-DD`.
    pub valuation_date: String,
    /// The base currency every amount is in.
    pub currency: String,
    /// The fee status (`clear`, `grace`, `charged`).
    pub status: String,
    /// The figures HTML shows as cards above the sections.
    pub key_figures: Vec<KeyFigure>,
    /// The sections, in reading order.
    pub sections: Vec<Section>,
}

/// A headline figure (HTML shows it as a card; Markdown leaves them to the
/// summary table, which has the same figures).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyFigure {
    /// What it is (the report's words).
    pub label: String,
    /// The amount, formatted, without currency.
    pub value: String,
    /// Drawn in red: the figure is what makes the account subject.
    pub hot: bool,
}

/// A headed section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Section {
    /// Anchor id (HTML `id`), stable: `summary`, `computation` …
    pub id: String,
    /// Heading (the report's words).
    pub title: String,
    /// Content, in order. A section made only of figures is left out where
    /// none of its figures is shown.
    pub blocks: Vec<Block>,
}

/// A block of a section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "block", rename_all = "snake_case")]
pub enum Block {
    /// A paragraph.
    Paragraph {
        /// Its text.
        text: Inline,
    },
    /// A quieter paragraph ("None reported.").
    Note {
        /// Its text.
        text: Inline,
    },
    /// A bulleted list.
    List {
        /// Steps of a computation, or warnings.
        style: ListStyle,
        /// One line per item.
        items: Vec<Inline>,
    },
    /// Two columns of label and figure (the summary).
    Facts {
        /// (label, value) rows.
        rows: Vec<(Inline, Inline)>,
    },
    /// A table.
    Table(Table),
    /// A chart, shown where the renderer has a link to it.
    Figure(Figure),
}

/// How a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListStyle {
    /// The steps of a computation.
    Steps,
    /// Warnings, set apart.
    Warnings,
}

/// A table: columns, rows of cells, an optional total row.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Table {
    /// The columns, with their headings.
    pub columns: Vec<Column>,
    /// One cell per column in each row.
    pub rows: Vec<Vec<Cell>>,
    /// The total row, when the table has one.
    pub total: Option<Total>,
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Column {
    /// Heading (the report's words).
    pub title: String,
    /// What its cells hold, which decides alignment and wrapping.
    pub kind: ColumnKind,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Figures: right-aligned, kept on one line.
    Number,
    /// Short text.
    #[default]
    Text,
    /// Text that may be long and wraps anywhere (ids, labels).
    Wrap,
    /// A one-word tag kept on one line.
    Tag,
    /// Several lines per cell ([`Cell::Lines`]): HTML stacks them in the
    /// cell; Markdown, which has no line breaks in cells, lists them under
    /// the table.
    Lines,
}

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cell", rename_all = "snake_case")]
pub enum Cell {
    /// One line of text.
    Text {
        /// Its text.
        text: Inline,
        /// Colour of a signed figure.
        tone: Tone,
    },
    /// Several lines (a [`ColumnKind::Lines`] column).
    Lines {
        /// The lines; none shows as `–`.
        lines: Vec<Inline>,
        /// The heading Markdown lists them under, below the table; `None`:
        /// Markdown does not list them (the row says it already).
        heading: Option<Inline>,
    },
}

impl Cell {
    /// A plain one-line cell.
    pub fn text(text: Inline) -> Self {
        Cell::Text {
            text,
            tone: Tone::Plain,
        }
    }

    /// A one-line cell of data text.
    pub fn data(text: impl Into<String>) -> Self {
        Self::text(vec![data(text)])
    }

    /// A one-line cell of data text with a tone.
    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Cell::Text {
            text: vec![data(text)],
            tone,
        }
    }
}

/// The colour of a signed figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// No colour.
    #[default]
    Plain,
    /// A loss (red).
    Loss,
    /// A saving (green).
    Gain,
}

/// The total row of a table: a label across the first columns, then the
/// figures under the last ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Total {
    /// What the total is (HTML says it; Markdown, which has no spanning
    /// cells, says `Total` in the column before the figures).
    pub label: String,
    /// The figures, for the last columns.
    pub values: Vec<String>,
}

/// A chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    /// Which chart.
    pub chart: Chart,
    /// Alternative text (the report's words).
    pub alt: String,
    /// Caption, if any (the report's words).
    pub caption: Option<String>,
    /// (width, height) in pixels, when fixed.
    pub size: Option<(u32, u32)>,
}

/// The charts of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    /// The scenario P&L distribution.
    PnlHistogram,
    /// The largest contributors.
    Contributors,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_goes_through_json_and_back_unchanged() {
        let doc = Document {
            title: "T".into(),
            account: "A&B".into(),
            sections: vec![Section {
                id: "s".into(),
                title: "S".into(),
                blocks: vec![
                    Block::Paragraph {
                        text: vec![words("x "), Span::Key(vec![data("1.00 USD")])],
                    },
                    Block::Table(Table {
                        columns: vec![Column {
                            title: "C".into(),
                            kind: ColumnKind::Lines,
                        }],
                        rows: vec![vec![Cell::Lines {
                            lines: vec![vec![data("a")]],
                            heading: None,
                        }]],
                        total: Some(Total {
                            label: "Total".into(),
                            values: vec!["1".into()],
                        }),
                    }),
                    Block::Figure(Figure {
                        chart: Chart::Contributors,
                        alt: "alt".into(),
                        caption: None,
                        size: Some((1, 2)),
                    }),
                ],
            }],
            ..Document::default()
        };
        let json = serde_json::to_string(&doc).unwrap();
        // the tags are readable
        assert!(json.contains(r#"{"kind":"key","value":[{"kind":"data","value":"1.00 USD"}]}"#));
        assert!(json.contains(r#""block":"figure","chart":"contributors""#));
        let back: Document = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
    }
}
