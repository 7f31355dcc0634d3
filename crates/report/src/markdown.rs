//! The report as Markdown: a renderer of the [`Document`].
//!
//! Figures are left out (Markdown links no charts), and so are the key
//! figures (the summary table holds them). Tables end with a blank line; a
//! [`ColumnKind::Lines`] column is listed under its table, one list per row
//! that has a heading.

#![allow(
    clippy::let_underscore_must_use,
    reason = "`write!` into a `String`, which cannot fail"
)]

use std::fmt::Write;

use crate::AccountReport;
use crate::document::{Block, Cell, ColumnKind, Document, Span, Table};
use crate::format::md_escape as e;

/// Renders the report as Markdown.
pub fn markdown(r: &AccountReport) -> String {
    render(&Document::from_report(r))
}

/// Renders a document as Markdown.
pub(crate) fn render(doc: &Document) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}: {}\n", doc.title, e(&doc.account));
    let _ = writeln!(
        o,
        "Valuation date {}, amounts in {}.\n",
        doc.valuation_date,
        e(&doc.currency)
    );
    for section in &doc.sections {
        if section.blocks.iter().all(|b| matches!(b, Block::Figure(_))) {
            continue;
        }
        let _ = writeln!(o, "## {}\n", section.title);
        for block in &section.blocks {
            write_block(&mut o, block);
        }
    }
    o
}

/// The text of spans.
fn inline(spans: &[Span]) -> String {
    let mut o = String::new();
    for span in spans {
        match span {
            Span::Words(w) => o.push_str(w),
            Span::Data(d) | Span::Status(d) => o.push_str(&e(d)),
            Span::Strong(inner) => {
                let _ = write!(o, "**{}**", inline(inner));
            }
            Span::Key(inner) | Span::TextOnly(inner) => o.push_str(&inline(inner)),
        }
    }
    o
}

/// A table row: `| a | b |`.
fn row<S: AsRef<str>>(o: &mut String, cells: impl IntoIterator<Item = S>) {
    o.push('|');
    for cell in cells {
        let _ = write!(o, " {} |", cell.as_ref());
    }
    o.push('\n');
}

fn write_block(o: &mut String, block: &Block) {
    match block {
        Block::Paragraph { text } | Block::Note { text } => {
            let _ = writeln!(o, "{}\n", inline(text));
        }
        Block::List { items, .. } => {
            for item in items {
                let _ = writeln!(o, "- {}", inline(item));
            }
            o.push('\n');
        }
        Block::Facts { rows } => {
            o.push_str("| | |\n|---|---:|\n");
            for (k, v) in rows {
                row(o, [inline(k), inline(v)]);
            }
            o.push('\n');
        }
        Block::Table(t) => write_table(o, t),
        Block::Figure(_) => {}
    }
}

fn write_table(o: &mut String, t: &Table) {
    // Markdown cells hold one line: a lines column is listed below.
    let shown: Vec<usize> = (0..t.columns.len())
        .filter(|&i| t.columns[i].kind != ColumnKind::Lines)
        .collect();
    row(o, shown.iter().map(|&i| t.columns[i].title.as_str()));
    o.push('|');
    for &i in &shown {
        o.push_str(match t.columns[i].kind {
            ColumnKind::Number => "---:|",
            _ => "---|",
        });
    }
    o.push('\n');
    for cells in &t.rows {
        row(
            o,
            shown.iter().map(|&i| match cells.get(i) {
                Some(Cell::Text { text, .. }) => inline(text),
                _ => String::new(),
            }),
        );
    }
    if let Some(total) = &t.total {
        // no spanning cells: blank cells, then `Total` before the figures
        let blanks = shown.len().saturating_sub(total.values.len() + 1);
        o.push('|');
        o.push_str(&" |".repeat(blanks));
        o.push_str(" **Total** |");
        for v in &total.values {
            let _ = write!(o, " **{}** |", e(v));
        }
        o.push('\n');
    }
    o.push('\n');
    for cells in &t.rows {
        for cell in cells {
            if let Cell::Lines {
                lines,
                heading: Some(heading),
            } = cell
            {
                let _ = writeln!(o, "**{}**\n", inline(heading));
                for line in lines {
                    let _ = writeln!(o, "- {}", inline(line));
                }
                o.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Chart, ListStyle, Tone};
    use crate::document::{Column, Figure, Section, Total, data, words};

    fn doc(sections: Vec<Section>) -> Document {
        Document {
            title: "Report".into(),
            account: "A_1".into(),
            valuation_date: "2026-03-09".into(),
            currency: "USD".into(),
            status: "grace".into(),
            key_figures: Vec::new(),
            sections,
        }
    }

    #[test]
    fn a_tiny_document_renders_to_the_markdown_written_by_hand() {
        let table = Table {
            columns: vec![
                Column {
                    title: "#".into(),
                    kind: ColumnKind::Number,
                },
                Column {
                    title: "Name".into(),
                    kind: ColumnKind::Wrap,
                },
                Column {
                    title: "Lines".into(),
                    kind: ColumnKind::Lines,
                },
                Column {
                    title: "Fee".into(),
                    kind: ColumnKind::Number,
                },
            ],
            rows: vec![
                vec![
                    Cell::data("1"),
                    Cell::data("a|b"),
                    Cell::Lines {
                        lines: vec![vec![data("x*y")], vec![words("z")]],
                        heading: Some(vec![words("1. "), data("a|b")]),
                    },
                    Cell::Text {
                        text: vec![Span::Key(vec![data("2.50")])],
                        tone: Tone::Loss,
                    },
                ],
                vec![
                    Cell::data("2"),
                    Cell::data("c"),
                    Cell::Lines {
                        lines: vec![vec![data("hidden")]],
                        heading: None,
                    },
                    Cell::data("1.00"),
                ],
            ],
            total: Some(Total {
                label: "Total a day".into(),
                values: vec!["3.50".into()],
            }),
        };
        let d = doc(vec![
            Section {
                id: "s".into(),
                title: "First & last".into(),
                blocks: vec![
                    Block::Facts {
                        rows: vec![(vec![words("Status")], vec![Span::Status("grace".into())])],
                    },
                    Block::Paragraph {
                        text: vec![
                            words("It's "),
                            Span::TextOnly(vec![words("said ")]),
                            Span::Strong(vec![data("<b>")]),
                            words("."),
                        ],
                    },
                    Block::Table(table),
                    Block::List {
                        style: ListStyle::Steps,
                        items: vec![vec![words("one")], vec![words("two")]],
                    },
                ],
            },
            Section {
                id: "f".into(),
                title: "Only a chart".into(),
                blocks: vec![Block::Figure(Figure {
                    chart: Chart::PnlHistogram,
                    alt: "a".into(),
                    caption: None,
                    size: None,
                })],
            },
            Section {
                id: "n".into(),
                title: "Empty".into(),
                blocks: vec![Block::Note {
                    text: vec![words("None reported.")],
                }],
            },
        ]);
        let want = "# Report: A\\_1\n\n\
Valuation date 2026-03-09, amounts in USD.\n\n\
## First & last\n\n\
| | |\n|---|---:|\n| Status | grace |\n\n\
It's said **\\<b\\>**.\n\n\
| # | Name | Fee |\n|---:|---|---:|\n| 1 | a\\|b | 2.50 |\n| 2 | c | 1.00 |\n| | **Total** | **3.50** |\n\n\
**1. a\\|b**\n\n- x\\*y\n- z\n\n\
- one\n- two\n\n\
## Empty\n\n\
None reported.\n\n";
        assert_eq!(render(&d), want);
    }
}
