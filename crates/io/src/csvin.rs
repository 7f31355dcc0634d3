//! A thin layer over `csv-core` that reads rows with bounded memory, finds
//! columns by name and turns every field problem into an [`InputError`] with
//! file, line and column.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use exfee_model::{Decimal, InputError, SourceLocation};

use crate::IoError;
pub(crate) use crate::fields::Fields;

/// The longest field read, in bytes (64 KiB). A longer field is an error of
/// its row and column (of the file, for a header); it is never held in
/// memory whole.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The most fields one row may have. A row with more is an error of the row
/// (of the file, for a header). With [`MAX_FIELD_BYTES`] this bounds the
/// memory one row takes (64 MiB at worst).
pub const MAX_FIELDS_PER_ROW: usize = 1024;

/// Capacity of the read buffer in front of the CSV parser.
const BUFFER_BYTES: usize = 64 * 1024;

/// Why a record was not read whole: only its complete fields before the
/// problem are kept (and, for [`Oversize::Unclosed`], the open field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversize {
    /// The field at this index (0-based) is longer than [`MAX_FIELD_BYTES`].
    Field(usize),
    /// The record has more than [`MAX_FIELDS_PER_ROW`] fields.
    Fields,
    /// The input ends inside the quoted field at this index (0-based): no
    /// closing quote, so the file is cut short there. The record holds
    /// every field, this one (the last) as far as it goes.
    Unclosed(usize),
}

impl Oversize {
    /// The field at fault (0-based), when one is.
    pub fn field(self) -> Option<usize> {
        match self {
            Oversize::Field(index) | Oversize::Unclosed(index) => Some(index),
            Oversize::Fields => None,
        }
    }

    /// The reason, in words.
    pub fn reason(self) -> String {
        match self {
            Oversize::Field(_) => oversize_field_reason(),
            Oversize::Fields => format!(
                "row has more than {MAX_FIELDS_PER_ROW} fields (the limit per row); the row is not read"
            ),
            Oversize::Unclosed(_) => "the file ends inside this quoted field (no closing quote): \
                 the file is cut short; the row is not read"
                .to_string(),
        }
    }
}

/// Why a field over [`MAX_FIELD_BYTES`] is refused.
pub(crate) fn oversize_field_reason() -> String {
    format!("field longer than {MAX_FIELD_BYTES} bytes (the limit per field); the row is not read")
}

/// What [`Records::next`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// A whole record.
    Record,
    /// A record too large to read: the record holds its complete fields
    /// before the problem.
    Oversized(Oversize),
    /// The end of the input.
    End,
    /// The bytes given so far are read (a [`Chunk`] that is not the last):
    /// reading goes on, exactly where it stopped, when more are given.
    Pause,
}

/// Where [`Records`] reads its bytes: a buffered reader (the whole input),
/// or a [`Chunk`] of it.
pub(crate) trait Source {
    /// Makes bytes available when none are: [`Source::buffer`] is then empty
    /// only at the end of the bytes there are.
    fn fill(&mut self) -> std::io::Result<()>;
    /// The bytes available and not yet consumed.
    fn buffer(&self) -> &[u8];
    /// Consumes the first `n` bytes of [`Source::buffer`].
    fn consume(&mut self, n: usize);
    /// Whether an empty buffer is the end of the input (else reading
    /// pauses until more bytes are given).
    fn at_end(&self) -> bool;
}

impl<R: Read> Source for BufReader<R> {
    fn fill(&mut self) -> std::io::Result<()> {
        loop {
            match self.fill_buf() {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn buffer(&self) -> &[u8] {
        BufReader::buffer(self)
    }

    fn consume(&mut self, n: usize) {
        BufRead::consume(self, n);
    }

    fn at_end(&self) -> bool {
        true
    }
}

/// A piece of an input held in memory: the bytes of one chunk of a file
/// read in parallel (`crate::chunked`), then of the next.
pub(crate) struct Chunk {
    bytes: Vec<u8>,
    at: usize,
    last: bool,
}

impl Chunk {
    /// `bytes`, followed by more input unless `last`.
    pub fn new(bytes: Vec<u8>, last: bool) -> Self {
        Chunk { bytes, at: 0, last }
    }

    /// The chunk's bytes (all of them, consumed or not).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl Source for Chunk {
    fn fill(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn buffer(&self) -> &[u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.at = self.at.saturating_add(n).min(self.bytes.len());
    }

    fn at_end(&self) -> bool {
        self.last
    }
}

/// CSV records read one at a time (RFC 4180 quoting, `\n`, `\r\n` or `\r`
/// line ends, a leading UTF-8 BOM skipped), each trimmed of ASCII spaces and
/// positioned at the line its first byte is on. Memory stays bounded whatever
/// the input: at most [`MAX_FIELDS_PER_ROW`] fields of [`MAX_FIELD_BYTES`]
/// are held; the rest of a larger record is skipped.
///
/// Reading from a [`Chunk`] that is not the last pauses at its end
/// ([`Next::Pause`]), in a record or between two, and goes on exactly as if
/// the input had not been cut when the next chunk is given
/// ([`Records::resume`]).
pub(crate) struct Records<S> {
    input: S,
    core: csv_core::Reader,
    fields: Vec<u8>,
    ends: Vec<usize>,
    /// Where an oversized record's remaining bytes are parsed and dropped.
    scratch: Vec<u8>,
    /// Reading the header ([`Records::next_header`]): an oversized record
    /// ends reading at once rather than being skipped to its end (an
    /// endless input such as `/dev/zero` has none; the file stops anyway).
    header: bool,
    scratch_ends: Vec<usize>,
    /// Line ends `core` does not count: newlines skipped between records,
    /// and records ended by a lone CR.
    skipped_lines: u64,
    /// Lines before the first byte given (a chunk's place in its file).
    line_base: u64,
    /// The last record ended on a CR: a line end of its own unless an LF
    /// follows (CRLF).
    after_cr: bool,
    started: bool,
    done: bool,
    /// The line end `core` was given at the end of the input (see
    /// [`Records::next`]): counted by `core`, not in the input.
    fed_end: bool,
    /// The record being read, when reading paused in it: its line, the
    /// output and field ends so far, its problem.
    in_record: bool,
    record_line: u64,
    outlen: usize,
    endlen: usize,
    oversize: Option<Oversize>,
}

impl<R: Read> Records<BufReader<R>> {
    pub fn new(input: R) -> Self {
        Records::with_source(BufReader::with_capacity(BUFFER_BYTES, input))
    }

    /// The bytes read from the input but not consumed yet, and the input
    /// after them; reading goes on from a [`Chunk`] of the first
    /// ([`Records::resume`]).
    pub fn into_rest(self) -> (Records<()>, Vec<u8>, R) {
        let rest = Source::buffer(&self.input).to_vec();
        let (records, input) = self.swap_input(());
        (records, rest, input.into_inner())
    }
}

impl Records<Chunk> {
    /// Records of a chunk of a file that starts between two records (the
    /// line ends before a record still to skip) on line `first_line`, after
    /// the file's BOM. What is read is right when the chunk really starts
    /// there: see [`Records::at_clean_boundary`].
    pub fn chunk(chunk: Chunk, first_line: u64) -> Self {
        let mut records = Records::with_source(chunk);
        // `core` strips a BOM from the first bytes it is given: given a line
        // end first (which it skips, between records), it reads the chunk's
        // bytes as a reader that had been going on would.
        let (mut output, mut ends) = ([0u8; 1], [0usize; 1]);
        let _primed = records.core.read_record(b"\n", &mut output, &mut ends);
        records.line_base = first_line.saturating_sub(records.core.line());
        records.started = true;
        records
    }

    /// The chunk read, and where reading stands.
    pub fn into_chunk(self) -> (Records<()>, Chunk) {
        self.swap_input(())
    }
}

impl Records<()> {
    /// Goes on reading from `chunk`, exactly where reading stopped.
    pub fn resume(self, chunk: Chunk) -> Records<Chunk> {
        self.swap_input(chunk).0
    }
}

impl<S> Records<S> {
    fn with_source(input: S) -> Self {
        Records {
            input,
            core: csv_core::Reader::new(),
            fields: vec![0; 1024],
            ends: vec![0; 32],
            scratch: vec![0; 4096],
            header: false,
            scratch_ends: vec![0; 32],
            skipped_lines: 0,
            line_base: 0,
            after_cr: false,
            started: false,
            done: false,
            fed_end: false,
            in_record: false,
            record_line: 0,
            outlen: 0,
            endlen: 0,
            oversize: None,
        }
    }

    /// The same reading state over another input, and the input it had.
    fn swap_input<T>(self, input: T) -> (Records<T>, S) {
        (
            Records {
                input,
                core: self.core,
                fields: self.fields,
                ends: self.ends,
                scratch: self.scratch,
                header: self.header,
                scratch_ends: self.scratch_ends,
                skipped_lines: self.skipped_lines,
                line_base: self.line_base,
                after_cr: self.after_cr,
                started: self.started,
                done: self.done,
                fed_end: self.fed_end,
                in_record: self.in_record,
                record_line: self.record_line,
                outlen: self.outlen,
                endlen: self.endlen,
                oversize: self.oversize,
            },
            self.input,
        )
    }

    /// The current line (1-based).
    pub fn line(&self) -> u64 {
        (self.core.line() + self.skipped_lines + self.line_base)
            .saturating_sub(u64::from(self.fed_end))
    }

    /// Whether reading stands between two records with nothing pending (no
    /// CR whose line end depends on the next byte), the input's BOM behind:
    /// where the records of a [`Records::chunk`] of what follows, numbered
    /// from [`Records::line`], are the records this reader would read.
    /// (`core` keeps no state between records that the bytes after can see:
    /// the line ends before a record are skipped here, not by `core`, and a
    /// chunk's `core` is primed past its BOM stripping.)
    pub fn at_clean_boundary(&self) -> bool {
        !self.in_record && !self.after_cr && self.started && !self.done
    }
}

impl<S: Source> Records<S> {
    /// Makes bytes available; a read error ends the input.
    fn fill(&mut self) -> std::io::Result<()> {
        self.input.fill().inspect_err(|_| self.done = true)
    }

    /// Skips a leading BOM, then the line ends before the next record, so
    /// that a record's line is the line of its first byte (`csv` would give
    /// the line before it in a CRLF file). `false` when the bytes given ran
    /// out first (a [`Chunk`] not the last): reading pauses.
    fn skip_line_ends(&mut self) -> std::io::Result<bool> {
        if !self.started {
            self.started = true;
            self.fill()?;
            if self.input.buffer().starts_with(b"\xEF\xBB\xBF") {
                self.input.consume(3);
            }
        }
        loop {
            self.fill()?;
            let buffer = self.input.buffer();
            if buffer.is_empty() && !self.input.at_end() {
                return Ok(false);
            }
            let mut n = 0;
            for &byte in buffer {
                match byte {
                    b'\n' => {
                        // LF, or the LF of a CRLF.
                        self.skipped_lines += 1;
                        self.after_cr = false;
                    }
                    b'\r' => {
                        if self.after_cr {
                            self.skipped_lines += 1; // the CR before was alone
                        }
                        self.after_cr = true;
                    }
                    _ => break,
                }
                n += 1;
            }
            let more = n == buffer.len() && n > 0;
            self.input.consume(n);
            if !more {
                // A record (or the end) follows: a CR still pending was alone.
                if self.after_cr {
                    self.skipped_lines += 1;
                    self.after_cr = false;
                }
                return Ok(true);
            }
        }
    }

    /// Makes room for more of the record after `core` filled the output
    /// (`OutputFull`) or the field ends (`OutputEndsFull`), or marks the
    /// record oversized when it is over the limits.
    fn grow(&mut self, result: csv_core::ReadRecordResult) {
        if matches!(result, csv_core::ReadRecordResult::OutputFull) {
            let start = self
                .endlen
                .checked_sub(1)
                .and_then(|i| self.ends.get(i))
                .map_or(0, |&end| end);
            if self.outlen - start > MAX_FIELD_BYTES {
                self.oversize = Some(Oversize::Field(self.endlen));
            } else {
                let size = self.fields.len() * 2;
                self.fields.resize(size, 0);
            }
        } else if self.ends.len() > MAX_FIELDS_PER_ROW {
            self.oversize = Some(Oversize::Fields);
        } else {
            let size = (self.ends.len() * 2).min(MAX_FIELDS_PER_ROW + 1);
            self.ends.resize(size, 0);
        }
    }

    /// [`Records::next`] for a file's header: a header over the limits ends
    /// reading where it is found over them ([`Next::Oversized`]), not at its
    /// end, which an endless input never reaches.
    ///
    /// # Errors
    ///
    /// The input's read error.
    pub fn next_header(&mut self, record: &mut csv::ByteRecord) -> std::io::Result<Next> {
        self.header = true;
        let next = self.next(record);
        self.header = false;
        next
    }

    /// Reads the next record into `record` (cleared first).
    ///
    /// # Errors
    ///
    /// The input's read error; reading stops there.
    pub fn next(&mut self, record: &mut csv::ByteRecord) -> std::io::Result<Next> {
        use csv_core::ReadRecordResult as R;
        record.clear();
        if !self.in_record {
            if self.done {
                return Ok(Next::End);
            }
            if !self.skip_line_ends()? {
                return Ok(Next::Pause);
            }
            self.in_record = true;
            self.record_line = self.line();
            (self.outlen, self.endlen, self.oversize) = (0, 0, None);
        }
        let mut unclosed = false;
        loop {
            self.fill()?;
            let input = self.input.buffer();
            if input.is_empty() && !self.input.at_end() {
                return Ok(Next::Pause);
            }
            // At the end of the input `core` is given a line end: it ends the
            // record as the end would, unless the record stands in a quoted
            // field, whose text it joins: no closing quote, the input is cut
            // short there.
            let fed = input.is_empty() && !self.fed_end;
            let input: &[u8] = if fed { b"\n" } else { input };
            let (outlen, endlen) = (self.outlen, self.endlen);
            let (result, nin, nout, nend) = if self.oversize.is_none() {
                self.core.read_record(
                    input,
                    self.fields.get_mut(outlen..).unwrap_or_default(),
                    self.ends.get_mut(endlen..).unwrap_or_default(),
                )
            } else {
                self.core
                    .read_record(input, &mut self.scratch, &mut self.scratch_ends)
            };
            let ended_on_cr =
                matches!(result, R::Record) && nin > 0 && input.get(nin - 1) == Some(&b'\r');
            if !fed {
                self.input.consume(nin);
            } else if nin > 0 {
                self.fed_end = true;
                unclosed = matches!(result, R::InputEmpty);
            }
            self.after_cr = ended_on_cr;
            if self.oversize.is_none() {
                self.outlen += nout;
                self.endlen += nend;
            }
            match result {
                R::InputEmpty => {}
                R::OutputFull | R::OutputEndsFull if self.oversize.is_some() => {}
                R::OutputFull | R::OutputEndsFull => {
                    self.grow(result);
                    // A header over the limits stops here: an endless input
                    // has no end to skip to.
                    if self.header
                        && let Some(problem) = self.oversize
                    {
                        self.done = true;
                        self.in_record = false;
                        return Ok(Next::Oversized(problem));
                    }
                }
                R::Record => break,
                R::End => {
                    self.done = true;
                    self.in_record = false;
                    return Ok(Next::End);
                }
            }
        }
        self.in_record = false;
        // The line end given at the end is not the open field's text.
        let open_field = self.endlen.checked_sub(1).filter(|_| unclosed);
        if let Some(end) = open_field.and_then(|last| self.ends.get_mut(last)) {
            *end = end.saturating_sub(1);
        }
        let ends = self.ends.get(..self.endlen).unwrap_or_default();
        let mut oversize = self.oversize;
        if oversize.is_none() {
            if ends.len() > MAX_FIELDS_PER_ROW {
                oversize = Some(Oversize::Fields);
            } else {
                let mut start = 0;
                for (index, &end) in ends.iter().enumerate() {
                    if end - start > MAX_FIELD_BYTES {
                        oversize = Some(Oversize::Field(index));
                        break;
                    }
                    start = end;
                }
            }
        }
        if oversize.is_none()
            && let Some(index) = open_field
        {
            oversize = Some(Oversize::Unclosed(index));
        }
        let kept = match oversize {
            // The open field is kept: what it swallowed tells the rows lost.
            None | Some(Oversize::Unclosed(_)) => ends.len(),
            Some(Oversize::Field(index)) => index,
            Some(Oversize::Fields) => ends.len().min(MAX_FIELDS_PER_ROW),
        };
        let mut start = 0;
        for &end in ends.iter().take(kept) {
            record.push_field(trim_blanks(self.fields.get(start..end).unwrap_or_default()));
            start = end;
        }
        let mut position = csv::Position::new();
        position.set_line(self.record_line);
        record.set_position(Some(position));
        Ok(oversize.map_or(Next::Record, Next::Oversized))
    }
}

/// A CSV file being read row by row, with its header.
pub(crate) struct CsvFile<R: Read> {
    name: String,
    records: Records<BufReader<R>>,
    header: Vec<String>,
    columns: Columns,
    /// The columns whose quoted fields may hold a line end (see
    /// [`Row::line_break_problem`]); none unless set.
    line_breaks: &'static [&'static str],
}

impl<R: Read> CsvFile<R> {
    /// Opens `reader` (shown to users as `name`) and checks that `required`
    /// columns are present.
    pub fn new(name: &str, reader: R, required: &[&'static str]) -> Result<Self, IoError> {
        let bad_header = |reason: String| IoError::BadHeader {
            path: name.to_string(),
            reason,
        };
        let mut records = Records::new(reader);
        let mut record = csv::ByteRecord::new();
        match records.next_header(&mut record) {
            Ok(Next::Record) => {}
            Ok(Next::End | Next::Pause) => {
                return Err(bad_header("the file is empty".to_string()));
            }
            Ok(Next::Oversized(problem)) => {
                let at = problem
                    .field()
                    .map_or(String::new(), |i| format!("column {}: ", i + 1));
                return Err(bad_header(format!("{at}{}", problem.reason())));
            }
            Err(e) => return Err(bad_header(e.to_string())),
        }
        let header: Vec<String> = record
            .iter()
            .map(|field| {
                String::from_utf8_lossy(field)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_string()
            })
            .collect();
        let mut columns = Columns::default();
        for (index, column) in header.iter().enumerate() {
            if column.is_empty() {
                continue;
            }
            if columns.insert(column.clone(), index).is_some() {
                return Err(IoError::DuplicateColumn {
                    path: name.to_string(),
                    column: column.clone(),
                });
            }
        }
        for &column in required {
            if !columns.contains_key(column) {
                return Err(IoError::MissingColumn {
                    path: name.to_string(),
                    column,
                    found: header.join(","),
                });
            }
        }
        Ok(CsvFile {
            name: name.to_string(),
            records,
            header,
            columns,
            line_breaks: &[],
        })
    }

    /// Lets quoted fields of `columns` hold line ends (free-text identifiers
    /// such as account ids); in every other column a line end is an error
    /// of the row (see [`Row::line_break_problem`]).
    pub fn allow_line_breaks(mut self, columns: &'static [&'static str]) -> Self {
        self.line_breaks = columns;
        self
    }

    /// Calls `each` on every data row. A row that cannot be split into the
    /// header's fields (too few or too many fields, a field or a row over the
    /// limits) is given to `broken` with its error; the row then holds the
    /// fields read (see [`Row::whole_text`]). A read error of the input is
    /// given to `broken` without a row, and ends the file.
    pub fn for_each_row(
        self,
        mut each: impl FnMut(&Row<'_>),
        mut broken: impl FnMut(InputError, Option<&Row<'_>>),
    ) {
        self.read_rows(|read| match read {
            Ok(row) => each(row),
            Err((error, row)) => broken(error, row),
        });
    }

    /// [`CsvFile::for_each_row`] with one callback, given `Ok(row)` or
    /// `Err((error, row))`, for readers whose both cases change the same
    /// state.
    pub fn read_rows(mut self, mut read: impl FnMut(Result<&Row<'_>, Broken<'_, '_>>)) {
        let mut record = csv::ByteRecord::new();
        let place = Place {
            file: &self.name,
            header: &self.header,
            columns: &self.columns,
            line_breaks: self.line_breaks,
        };
        loop {
            let next = match self.records.next(&mut record) {
                Ok(next) => next,
                Err(e) => {
                    read(Err((place.unreadable(self.records.line(), &e), None)));
                    break;
                }
            };
            if !place.emit(next, &record, &mut read) {
                break;
            }
        }
    }

    /// A copy of the file's name, header and rules.
    pub(crate) fn owned_place(&self) -> OwnedPlace {
        OwnedPlace {
            file: self.name.clone(),
            header: self.header.clone(),
            columns: self.columns.clone(),
            line_breaks: self.line_breaks,
        }
    }

    /// The file's parts: its name, header and rules as a [`Place`], and its
    /// records.
    pub(crate) fn into_parts(self) -> (OwnedPlace, Records<BufReader<R>>) {
        (
            OwnedPlace {
                file: self.name,
                header: self.header,
                columns: self.columns,
                line_breaks: self.line_breaks,
            },
            self.records,
        )
    }
}

/// A CSV file's name, header and rules, owned: see [`Place`].
pub(crate) struct OwnedPlace {
    file: String,
    header: Vec<String>,
    columns: Columns,
    line_breaks: &'static [&'static str],
}

impl OwnedPlace {
    pub(crate) fn place(&self) -> Place<'_> {
        Place {
            file: &self.file,
            header: &self.header,
            columns: &self.columns,
            line_breaks: self.line_breaks,
        }
    }
}

/// What a record needs to become a [`Row`]: its file's name and header, and
/// which columns may hold a line break.
#[derive(Clone, Copy)]
pub(crate) struct Place<'a> {
    file: &'a str,
    header: &'a [String],
    columns: &'a Columns,
    line_breaks: &'static [&'static str],
}

impl<'a> Place<'a> {
    /// The row of `record` at `line` (for errors about a row whose fields
    /// are no longer at hand, an empty record).
    pub(crate) fn row<'r>(&self, line: u64, record: &'r csv::ByteRecord) -> Row<'r>
    where
        'a: 'r,
    {
        Row {
            file: self.file,
            line,
            record,
            header: self.header,
            columns: self.columns,
            whole: record.len(),
        }
    }

    /// The error of an input that could not be read at `line`.
    pub(crate) fn unreadable(&self, line: u64, error: &std::io::Error) -> InputError {
        InputError::at(
            SourceLocation {
                file: self.file.to_string(),
                line,
                column: None,
            },
            format!("unreadable row: {error}"),
        )
    }

    /// Gives `read` what the record `next` read is as a row: nothing for a
    /// blank line, the row, or its error with the fields read whole. `false`
    /// at the end (or a pause) of the records.
    pub(crate) fn emit(
        &self,
        next: Next,
        record: &csv::ByteRecord,
        read: &mut impl FnMut(Result<&Row<'_>, Broken<'_, '_>>),
    ) -> bool {
        let line = record.position().map_or(0, |p| p.line());
        let mut row = self.row(line, record);
        match next {
            Next::End | Next::Pause => return false,
            Next::Oversized(problem) => {
                // A quote left open at the end may have swallowed rows: then
                // that is the error, naming them.
                let swallowed = match problem {
                    Oversize::Unclosed(_) => row.line_break_problem(self.line_breaks),
                    _ => None,
                };
                let error = match (swallowed, problem.field()) {
                    (Some((index, error)), _) => {
                        row.whole = index;
                        error
                    }
                    (None, Some(index)) => {
                        row.whole = row.whole.min(index);
                        row.error_at_field(index, problem.reason())
                    }
                    (None, None) => row.error_at_row(problem.reason()),
                };
                read(Err((error, Some(&row))));
            }
            Next::Record => {
                if record.iter().all(<[u8]>::is_empty) {
                    return true; // a blank line
                }
                if let Some((index, error)) = row.line_break_problem(self.line_breaks) {
                    // Only the fields before the bad one are whole.
                    row.whole = index;
                    read(Err((error, Some(&row))));
                    return true;
                }
                if record.len() != self.header.len() {
                    if record.len() < self.header.len() {
                        // The last field may be cut short (a truncated line).
                        row.whole = record.len().saturating_sub(1);
                    }
                    let error = row.error_at_row(format!(
                        "row has {} fields but the header has {}",
                        record.len(),
                        self.header.len()
                    ));
                    read(Err((error, Some(&row))));
                    return true;
                }
                read(Ok(&row));
            }
        }
        true
    }
}

/// A row that could not be read as its header says: its error, and the
/// fields that were read (none after a read error of the input).
pub(crate) type Broken<'r, 'a> = (InputError, Option<&'r Row<'a>>);

/// Calls `check` with a row of `fields` (line 2 of `p.csv`) under the
/// columns `names`: a row for unit tests of field rules.
#[cfg(test)]
pub(crate) fn with_test_row<T>(
    names: &[&str],
    fields: &[&str],
    check: impl FnOnce(&Row<'_>) -> T,
) -> T {
    let header: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let columns: Columns = header
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, n)| (n, i))
        .collect();
    let record = csv::ByteRecord::from(fields.to_vec());
    let row = Row {
        file: "p.csv",
        line: 2,
        record: &record,
        header: &header,
        columns: &columns,
        whole: record.len(),
    };
    check(&row)
}

/// A header's columns by name: the field index of each. Looked up for every
/// field read, so hashed with foldhash rather than SipHash (the names are
/// the header's, a handful per file).
pub(crate) type Columns = HashMap<String, usize, foldhash::fast::RandomState>;

/// One data row.
pub(crate) struct Row<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    pub(crate) record: &'a csv::ByteRecord,
    pub(crate) header: &'a [String],
    pub(crate) columns: &'a Columns,
    /// How many leading fields of `record` are known to be whole: all of
    /// them, but the last of a row with fewer fields than its header.
    pub(crate) whole: usize,
}

impl Row<'_> {
    /// The location of a column of this row.
    pub fn location(&self, column: &str) -> SourceLocation {
        SourceLocation {
            file: self.file.to_string(),
            line: self.line,
            column: self
                .columns
                .get(column)
                .map(|&i| (i + 1, self.header[i].clone())),
        }
    }

    /// An error about the whole row.
    pub fn error_at_row(&self, reason: impl Into<String>) -> InputError {
        InputError::at(
            SourceLocation {
                file: self.file.to_string(),
                line: self.line,
                column: None,
            },
            reason,
        )
    }

    /// An error about the field at `index` (0-based), named by the header
    /// when the header has that column.
    pub fn error_at_field(&self, index: usize, reason: impl Into<String>) -> InputError {
        InputError::at(
            SourceLocation {
                file: self.file.to_string(),
                line: self.line,
                column: Some((
                    index + 1,
                    self.header.get(index).cloned().unwrap_or_default(),
                )),
            },
            reason,
        )
    }

    /// An error about one column of this row.
    pub fn error(&self, column: &str, reason: impl Into<String>) -> InputError {
        InputError::at(self.location(column), reason)
    }

    /// The text of a column of a row that could not be read as its header
    /// says, when that field was read whole and is non-empty UTF-8: how a
    /// broken row still names its account.
    pub fn whole_text(&self, column: &str) -> Option<&str> {
        let &index = self.columns.get(column)?;
        if index >= self.whole {
            return None;
        }
        let text = std::str::from_utf8(self.record.get(index)?).ok()?.trim();
        (!text.is_empty()).then_some(text)
    }

    /// The fields holding a line end: (index, first line, last line). Lines
    /// are counted from the row's first line through the line ends of the
    /// fields as read, those at the very start of a quoted field included
    /// (see [`trim_blanks`]).
    fn multiline_fields(&self) -> Vec<(usize, u64, u64)> {
        let mut line = self.line;
        let mut spans = Vec::new();
        for (index, field) in self.record.iter().enumerate() {
            let breaks = line_ends(field);
            if breaks > 0 {
                spans.push((index, line, line + breaks));
            }
            line += breaks;
        }
        spans
    }

    /// The lines inside the row's multi-line fields that read as rows of
    /// their own: the text of each line after a line end, when it splits
    /// into more than one field.
    fn inner_rows(&self) -> Vec<csv::ByteRecord> {
        let mut rows = Vec::new();
        for field in self.record.iter().filter(|f| line_ends(f) > 0) {
            for line in split_lines(field).skip(1) {
                let mut records = Records::new(line);
                let mut record = csv::ByteRecord::new();
                if matches!(records.next(&mut record), Ok(Next::Record)) && record.len() > 1 {
                    rows.push(record);
                }
            }
        }
        rows
    }

    /// The accounts (the text in `column`'s position) of the rows a quoted
    /// field of this row swallowed: the lines inside it that read as rows of
    /// their own (see [`Row::line_break_problem`]).
    pub fn swallowed(&self, column: &str) -> Vec<String> {
        let Some(&index) = self.columns.get(column) else {
            return Vec::new();
        };
        let inner = self.inner_rows();
        if inner.is_empty() {
            return Vec::new();
        }
        let mut ids: Vec<String> = Vec::new();
        // When the quote opens in the key column itself, the row's own key is
        // the first field of the field's first line (`"A,SPY,…` is row A).
        let own = self
            .record
            .get(index)
            .filter(|field| line_ends(field) > 0)
            .and_then(|field| split_lines(field).next())
            .and_then(|line| {
                let mut record = csv::ByteRecord::new();
                Records::new(line).next(&mut record).ok()?;
                Some(record)
            });
        for record in own
            .into_iter()
            .map(|r| (r, 0))
            .chain(inner.into_iter().map(|r| (r, index)))
        {
            let (record, index) = record;
            if let Some(id) = record
                .get(index)
                .and_then(|f| std::str::from_utf8(f).ok())
                .map(str::trim)
                .filter(|id| !id.is_empty())
                && !ids.iter().any(|seen| seen == id)
            {
                ids.push(id.to_string());
            }
        }
        ids
    }

    /// A quoted field that spans lines where it should not: in a column not
    /// in `allowed`, or (in any column) holding a line that reads as a row
    /// of its own — the mark of a closing quote missing, which swallows the
    /// rows after it. The error is of that field and names the lines it
    /// spans; the index is the field's (the fields before it are whole).
    pub fn line_break_problem(&self, allowed: &[&str]) -> Option<(usize, InputError)> {
        // The common case, a row on one line, costs one scan of its bytes.
        memchr::memchr2(b'\n', b'\r', self.record.as_slice())?;
        let swallows = !self.inner_rows().is_empty();
        let (index, first, last) = self.multiline_fields().into_iter().find(|&(index, ..)| {
            swallows
                || !self
                    .header
                    .get(index)
                    .is_some_and(|name| allowed.contains(&name.as_str()))
        })?;
        let why = if swallows {
            "lines inside it read as rows of their own"
        } else {
            "this column cannot hold a line break"
        };
        Some((
            index,
            self.error_at_field(
                index,
                format!(
                    "a quoted field spans lines {first}-{last} and {why}: is a closing quote \
                     missing? The rows it holds are not read"
                ),
            ),
        ))
    }

    /// The field of `column` as read; empty when the column is not in the
    /// file.
    fn raw_text(&self, column: &str) -> Result<&str, InputError> {
        let Some(&index) = self.columns.get(column) else {
            return Ok("");
        };
        let bytes = self.record.get(index).unwrap_or_default();
        std::str::from_utf8(bytes)
            .map(str::trim_ascii)
            .map_err(|_| self.error(column, "not valid UTF-8 text"))
    }
}

impl Fields for Row<'_> {
    fn raw(&self, column: &str) -> Result<&str, InputError> {
        self.raw_text(column)
    }

    fn error(&self, column: &str, reason: impl Into<String>) -> InputError {
        Row::error(self, column, reason)
    }
}

/// `bytes` without the spaces around them: ASCII white space at the end,
/// spaces, tabs and form feeds at the start. A line end at the start stays:
/// a quoted field that opens as a line's last field (`…,"⏎`) holds the next
/// line whole, and only that line end shows the row it swallowed
/// ([`Row::line_break_problem`]). (A line end at the end of a field follows
/// text of the field's own first line or an inner line end, so dropping it
/// hides no row; it is the input's last line end when the quote never
/// closes.) A value is read without the line ends kept here
/// ([`Row::raw_text`], [`Row::whole_text`]).
fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.trim_ascii_end();
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\x0C'))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// The line ends in `bytes`: LF, CRLF and a lone CR each count once.
fn line_ends(bytes: &[u8]) -> u64 {
    let mut count = 0;
    let mut previous = 0u8;
    for &byte in bytes {
        if byte == b'\r' || (byte == b'\n' && previous != b'\r') {
            count += 1;
        }
        previous = byte;
    }
    count
}

/// The lines of `bytes`, split at LF, CRLF or a lone CR.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n' || b == b'\r')
        .enumerate()
        // The empty piece between the CR and LF of a CRLF is no line.
        .filter(move |(i, piece)| !piece.is_empty() || *i == 0)
        .map(|(_, piece)| piece)
}

/// Parses a plain decimal number; the reason is in words when it is not one.
/// The one rule for every number read: [`exfee_model::parse_plain_decimal`].
pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, String> {
    exfee_model::parse_plain_decimal(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `text` as (line, fields) or (line, problem).
    fn records(text: &[u8]) -> Vec<(u64, Result<Vec<String>, Oversize>)> {
        let mut records = Records::new(text);
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        loop {
            let next = records.next(&mut record).unwrap();
            let line = record.position().unwrap().line();
            let fields = record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            match next {
                Next::End | Next::Pause => return out,
                Next::Record => out.push((line, Ok(fields))),
                Next::Oversized(problem) => out.push((line, Err(problem))),
            }
        }
    }

    fn ok(line: u64, fields: &[&str]) -> (u64, Result<Vec<String>, Oversize>) {
        (line, Ok(fields.iter().map(|f| f.to_string()).collect()))
    }

    #[test]
    fn lines_are_the_lines_records_start_on_whatever_the_line_ends() {
        for text in [
            &b"h1,h2\na,b\n\nc,d\n"[..],
            b"h1,h2\r\na,b\r\n\r\nc,d\r\n",
            b"h1,h2\r\na,b\r\n\r\nc,d",
        ] {
            assert_eq!(
                records(text),
                vec![ok(1, &["h1", "h2"]), ok(2, &["a", "b"]), ok(4, &["c", "d"])],
                "{text:?}"
            );
        }
        // Old Mac line ends (a lone CR) count as line ends too.
        assert_eq!(
            records(b"h1,h2\ra,b\r\rc,d\r"),
            vec![ok(1, &["h1", "h2"]), ok(2, &["a", "b"]), ok(4, &["c", "d"])]
        );
        // A quoted field may hold line ends; the next record counts them.
        assert_eq!(
            records(b"h\r\n\"two\r\nlines, and a comma\"\r\nnext\r\n"),
            vec![
                ok(1, &["h"]),
                ok(2, &["two\r\nlines, and a comma"]),
                ok(4, &["next"])
            ]
        );
    }

    #[test]
    fn a_bom_is_skipped_even_before_a_quoted_header() {
        assert_eq!(
            records(b"\xEF\xBB\xBF\"account\", base \n U1 ,USD"),
            vec![ok(1, &["account", "base"]), ok(2, &["U1", "USD"])]
        );
        assert_eq!(records(b"\xEF\xBB\xBF\r\n\r\nh\n"), vec![ok(3, &["h"])]);
    }

    #[test]
    fn a_field_over_the_limit_is_skipped_with_the_rest_of_its_row() {
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        let exact = "y".repeat(MAX_FIELD_BYTES);
        let text = format!("a,b,c\n1,{long},3\n4,\"{long}\nmore\",6\n7,{exact},9\n");
        let got = records(text.as_bytes());
        assert_eq!(got.len(), 4);
        assert_eq!(got[1], (2, Err(Oversize::Field(1))));
        assert_eq!(got[2], (3, Err(Oversize::Field(1))));
        assert_eq!(got[3].0, 5);
        assert_eq!(got[3].1.as_ref().unwrap()[1].len(), MAX_FIELD_BYTES);
    }

    /// An input that ends inside a quoted field is cut short: the row is
    /// an error at that field, with the fields before it; a closed quote, or
    /// a quote inside an unquoted field, ends nothing early.
    #[test]
    fn an_input_ending_inside_a_quoted_field_is_an_error_of_its_row() {
        assert_eq!(
            records(b"h1,h2,h3\nMSFT,\"100\",\"41"),
            vec![ok(1, &["h1", "h2", "h3"]), (2, Err(Oversize::Unclosed(2)))]
        );
        // An escaped quote ("") does not close the field; a line end inside
        // it is text.
        assert_eq!(
            records(b"h\n\"4\"\"1\nmore"),
            vec![ok(1, &["h"]), (2, Err(Oversize::Unclosed(0)))]
        );
        assert_eq!(records(b"a,\"41\""), vec![ok(1, &["a", "41"])]);
        assert_eq!(records(b"a,b\"c"), vec![ok(1, &["a", "b\"c"])]);
        assert_eq!(records(b"a,b\r\n\r\n"), vec![ok(1, &["a", "b"])]);
        // The open field is kept as far as it goes, for what it swallowed.
        let mut records = Records::new(&b"U1,\"41\nU2,5"[..]);
        let mut record = csv::ByteRecord::new();
        let next = records.next(&mut record).unwrap();
        assert_eq!(next, Next::Oversized(Oversize::Unclosed(1)));
        assert_eq!(record.iter().collect::<Vec<_>>(), [&b"U1"[..], b"41\nU2,5"]);
        assert_eq!(records.next(&mut record).unwrap(), Next::End);
        assert_eq!(records.line(), 2);
        assert_eq!(Oversize::Unclosed(1).field(), Some(1));
    }

    #[test]
    fn a_row_over_the_field_limit_is_skipped() {
        let wide = ",".repeat(MAX_FIELDS_PER_ROW);
        let exact = ",".repeat(MAX_FIELDS_PER_ROW - 1);
        let text = format!("h\n{wide}\n{exact}\nlast\n");
        let got = records(text.as_bytes());
        assert_eq!(got[1], (2, Err(Oversize::Fields)));
        assert_eq!(got[2].1.as_ref().unwrap().len(), MAX_FIELDS_PER_ROW);
        assert_eq!(got[3], ok(4, &["last"]));
    }

    #[test]
    fn a_gigantic_field_is_read_in_bounded_memory() {
        /// An endless field: `x` bytes up to `len`, then a line end.
        struct Endless {
            left: usize,
        }
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.left);
                buf[..n].fill(b'x');
                self.left -= n;
                if n == 0 && !buf.is_empty() {
                    buf[0] = b'\n';
                    self.left = usize::MAX; // ends once
                    return Ok(0);
                }
                Ok(n)
            }
        }
        let mut records = Records::new(Endless { left: 64 << 20 });
        let mut record = csv::ByteRecord::new();
        assert_eq!(
            records.next(&mut record).unwrap(),
            Next::Oversized(Oversize::Field(0))
        );
        assert!(records.fields.len() <= 4 * MAX_FIELD_BYTES);
    }

    fn csv_file(text: &str) -> Result<CsvFile<&[u8]>, IoError> {
        CsvFile::new("f.csv", text.as_bytes(), &["account", "amount"])
    }

    #[test]
    fn header_problems_stop_the_file() {
        let err = |text: &str| csv_file(text).err().unwrap().to_string();
        assert_eq!(
            err(""),
            "f.csv: cannot read the header row: the file is empty"
        );
        assert_eq!(
            err("\r\n\n"),
            "f.csv: cannot read the header row: the file is empty"
        );
        assert!(err("account\n").contains("required column 'amount' is missing"));
        assert_eq!(
            err("account,amount,account\n"),
            "f.csv: column 'account' appears twice in the header"
        );
        let long = format!("account,amount,{}\n", "z".repeat(MAX_FIELD_BYTES + 1));
        assert!(
            err(&long).contains("column 3: field longer than 65536 bytes"),
            "{}",
            err(&long)
        );
    }

    /// Each row as `Ok(account)` or `Err((error, account read whole))`.
    fn rows(text: &str) -> Vec<Result<String, (String, Option<String>)>> {
        let mut out = Vec::new();
        csv_file(text).unwrap().read_rows(|read| match read {
            Ok(row) => out.push(Ok(row.text("account").unwrap().to_string())),
            Err((error, row)) => out.push(Err((
                error.to_string(),
                row.and_then(|r| r.whole_text("account").map(str::to_string)),
            ))),
        });
        out
    }

    #[test]
    fn broken_rows_keep_the_account_only_when_read_whole() {
        let long = "9".repeat(MAX_FIELD_BYTES + 1);
        let got = rows(&format!(
            "account,amount\r\nU1,5\r\nU2,1,000.00\r\nU3\r\nU4,{long}\r\n{long},1\r\nU5,\"1,000.00\"\r\nU6,7"
        ));
        assert_eq!(
            got,
            vec![
                Ok("U1".into()),
                Err((
                    "f.csv line 3: row has 3 fields but the header has 2".into(),
                    Some("U2".into())
                )),
                // Too short: the last field may be cut, so the account is unknown.
                Err((
                    "f.csv line 4: row has 1 fields but the header has 2".into(),
                    None
                )),
                Err((
                    "f.csv line 5 column 2 (amount): field longer than 65536 bytes (the limit \
                     per field); the row is not read"
                        .into(),
                    Some("U4".into())
                )),
                Err((
                    "f.csv line 6 column 1 (account): field longer than 65536 bytes (the limit \
                     per field); the row is not read"
                        .into(),
                    None
                )),
                Ok("U5".into()),
                Ok("U6".into()),
            ]
        );
    }

    #[test]
    fn non_utf8_bytes_are_an_error_of_their_column_only() {
        let mut seen = Vec::new();
        CsvFile::new(
            "f.csv",
            &b"account,amount\nU\xFF1,5\nU2,\xC3\x28\n"[..],
            &["account"],
        )
        .unwrap()
        .for_each_row(
            |row| {
                seen.push((
                    row.text("account")
                        .map(str::to_string)
                        .map_err(|e| e.to_string()),
                    row.decimal("amount").map_err(|e| e.to_string()),
                ));
            },
            |e, _| panic!("{e}"),
        );
        assert_eq!(
            seen[0].0,
            Err("f.csv line 2 column 1 (account): not valid UTF-8 text".into())
        );
        assert_eq!(seen[1].0, Ok("U2".to_string()));
        assert_eq!(
            seen[1].1,
            Err("f.csv line 3 column 2 (amount): not valid UTF-8 text".into())
        );
    }

    #[test]
    fn hostile_numbers_are_refused_or_read_exactly() {
        let refused = [
            "1e400",
            "NaN",
            "-inf",
            "1,000.00",
            "0x10",
            "",
            "123456789012345678901234567890",
            "1_000",
            "5_00",
            "_5",
            "5_",
            "1__0.5",
            "0.5_0",
            "+",
            "-.",
            ".",
            "1.2.3",
            "1 000",
            "--1",
        ];
        for text in refused {
            assert!(parse_decimal(text).is_err(), "{text}");
        }
        assert_eq!(parse_decimal("-0").unwrap(), Decimal::ZERO);
        assert_eq!(parse_decimal("1000").unwrap(), Decimal::from(1000));
        assert_eq!(parse_decimal("+.5").unwrap(), Decimal::new(5, 1));
        assert_eq!(parse_decimal("7.").unwrap(), Decimal::from(7));
        assert_eq!(parse_decimal("-12.50").unwrap(), Decimal::new(-1250, 2));
        assert_eq!(parse_decimal("-0.00").unwrap().to_string(), "0.00");
        assert_eq!(
            parse_decimal("79228162514264337593543950335").unwrap(),
            Decimal::MAX
        );
    }
}
