//! Reading a large CSV file on every core (issue 16): the file is read in
//! chunks of about [`CHUNK_BYTES`], cut after a line end; every chunk of a
//! batch is split into records and its rows interpreted in parallel, as if
//! it began between two records; then, in file order, each chunk is checked
//! to really begin there and its rows are applied.
//!
//! The check makes the result exactly that of reading the file from start
//! to end ([`CsvFile::read_rows`]), whatever the input:
//!
//! - a chunk read on its own is right when the reader of the chunks before
//!   it stopped between two records with nothing pending (not inside a
//!   quoted field that spans lines, not after a CR whose line end depends on
//!   the next byte), and when the line it was numbered from is the line
//!   that reader stopped on (estimated from the line ends in the chunks
//!   before: only a lone CR inside a quoted field makes the estimate wrong);
//! - a chunk that is not is read again, on this thread, by the reader of
//!   the chunks before it, which goes on exactly where it stopped
//!   ([`Records::resume`]): a quoted field spanning the cut, a CR-only file,
//!   a hostile input all read as they read whole. Only their speed changes.
//!
//! Every error keeps its file, line and column, and errors and accounts come
//! in file order, because rows are applied in file order. Memory stays
//! bounded: a batch holds a few chunks per thread, and the reader keeps the
//! limits of [`Records`].

use std::io::Read;

use rayon::prelude::*;

use crate::csvin::{Broken, Chunk, CsvFile, Next, Place, Records, Row, Source};

/// The size a chunk is read to before it is cut after its last line end
/// (1 MiB: about 18,000 `positions.csv` rows; enough work per task, little
/// memory per batch).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Chunks per thread in a batch.
const CHUNKS_PER_THREAD: usize = 4;

/// A chunk read in parallel: its rows as interpreted, where its reader
/// stopped, and the line it was numbered from.
struct Spec<T> {
    rows: Vec<T>,
    records: Records<()>,
    chunk: Chunk,
    first_line: u64,
    /// The line ends counted in the chunk (for the next batch's estimate).
    lines: u64,
}

impl<R: Read> CsvFile<R> {
    /// What `self.read_rows(|read| apply(interpret(&mut state, read)))`
    /// does, with `interpret` run on every core (rayon): `interpret` sees
    /// every row in file order within a stretch of the file, with a `state`
    /// that starts as `S::default()` at the start of every stretch (for
    /// what a row may take from the one before it, such as the account it
    /// names); `apply` sees every result in file order.
    ///
    /// The result is the same as reading the file from start to end, for
    /// any input (see the module's documentation), and the same whatever the
    /// thread count.
    pub fn read_rows_parallel<S: Default, T: Send>(
        self,
        interpret: impl Fn(&mut S, Result<&Row<'_>, Broken<'_, '_>>) -> T + Sync,
        mut apply: impl FnMut(T),
    ) {
        self.read_rows_chunked(CHUNK_BYTES, &interpret, &mut apply);
    }

    /// [`CsvFile::read_rows_parallel`] with chunks of `chunk_bytes` (tests
    /// cut small inputs in many ways).
    pub(crate) fn read_rows_chunked<S: Default, T: Send>(
        self,
        chunk_bytes: usize,
        interpret: &(impl Fn(&mut S, Result<&Row<'_>, Broken<'_, '_>>) -> T + Sync),
        apply: &mut impl FnMut(T),
    ) {
        let (owned, records) = self.into_parts();
        let place = owned.place();
        let (mut truth, rest, mut input) = records.into_rest();
        let mut feed = Feed {
            pending: rest,
            chunk_bytes: chunk_bytes.max(1),
            eof: false,
        };
        let per_batch = rayon::current_num_threads().max(1) * CHUNKS_PER_THREAD;
        // The line each batch's first chunk is numbered from: the line the
        // reader of the batches before it stopped on, as far as it is known
        // when the batch starts (the batch before it is still being
        // applied, so its line ends are counted; a wrong estimate costs
        // speed only: `apply_batch` checks it).
        let mut next_line = truth.line();
        let mut failure = None;
        // Batch after batch: while one batch is split and interpreted on
        // every core, the main thread applies the one before it.
        let mut parsed: Option<Vec<Spec<T>>> = None;
        loop {
            let mut chunks = Vec::with_capacity(per_batch);
            while failure.is_none() && chunks.len() < per_batch && !feed.done() {
                match feed.next_chunk(&mut input) {
                    Ok(Some(chunk)) => chunks.push(chunk),
                    Ok(None) => {}
                    Err((chunk, e)) => {
                        chunks.extend(chunk);
                        failure = Some(e);
                    }
                }
            }
            let mut first_lines = Vec::with_capacity(chunks.len());
            for chunk in &chunks {
                first_lines.push(next_line);
                next_line += line_ends(chunk);
            }
            let before = parsed.take();
            let (reached, specs) = std::thread::scope(|scope| {
                let parsing = (!chunks.is_empty())
                    .then(|| scope.spawn(|| parse_batch(chunks, first_lines, place, interpret)));
                let reached = match before {
                    Some(specs) => apply_batch(truth, specs, place, interpret, apply),
                    None => truth,
                };
                let specs = parsing.map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                });
                (reached, specs)
            });
            truth = reached;
            // The estimate starts again from what the reader really reached
            // (known now for every batch before this one).
            let batch_lines: u64 = specs
                .as_ref()
                .map_or(0, |specs| specs.iter().map(|s| s.lines).sum());
            next_line = truth.line() + batch_lines;
            parsed = specs;
            if parsed.is_none() && (failure.is_some() || feed.done()) {
                break;
            }
        }
        if let Some(e) = failure {
            let mut state = S::default();
            apply(interpret(
                &mut state,
                Err((place.unreadable(truth.line(), &e), None)),
            ));
            return;
        }
        let mut records = truth.resume(Chunk::new(Vec::new(), true));
        read_stretch(&mut records, place, interpret, apply);
    }
}

/// Splits and interprets the chunks of a batch on every core, each as if
/// it began between two records on its first line.
fn parse_batch<S: Default, T: Send>(
    chunks: Vec<Vec<u8>>,
    first_lines: Vec<u64>,
    place: Place<'_>,
    interpret: &(impl Fn(&mut S, Result<&Row<'_>, Broken<'_, '_>>) -> T + Sync),
) -> Vec<Spec<T>> {
    chunks
        .into_par_iter()
        .zip(first_lines)
        .map(|(bytes, first_line)| {
            let lines = line_ends(&bytes);
            let mut records = Records::chunk(Chunk::new(bytes, false), first_line);
            // About a row per line: the rows' vector is not grown (and
            // copied) as the chunk is read.
            let mut rows = Vec::with_capacity(usize::try_from(lines).unwrap_or(0));
            read_stretch(&mut records, place, interpret, &mut |t| rows.push(t));
            let (records, chunk) = records.into_chunk();
            Spec {
                rows,
                records,
                chunk,
                first_line,
                lines,
            }
        })
        .collect()
}

/// Applies the rows of a parsed batch in file order, after `truth`, the
/// reader of every chunk before it; a chunk that did not begin where that
/// reader stopped is read again by it. Returns the reader after the batch.
fn apply_batch<S: Default, T>(
    mut truth: Records<()>,
    specs: Vec<Spec<T>>,
    place: Place<'_>,
    interpret: &impl Fn(&mut S, Result<&Row<'_>, Broken<'_, '_>>) -> T,
    apply: &mut impl FnMut(T),
) -> Records<()> {
    for spec in specs {
        let right = truth.at_clean_boundary() && spec.first_line == truth.line();
        if right {
            spec.rows.into_iter().for_each(&mut *apply);
            truth = spec.records;
        } else {
            let chunk = Chunk::new(spec.chunk.into_bytes(), false);
            let mut records = truth.resume(chunk);
            read_stretch(&mut records, place, interpret, apply);
            truth = records.into_chunk().0;
        }
    }
    truth
}

/// Reads the records of `records` until it pauses or ends, giving each
/// row's interpretation to `out`.
fn read_stretch<Src: Source, S: Default, T>(
    records: &mut Records<Src>,
    place: Place<'_>,
    interpret: &impl Fn(&mut S, Result<&Row<'_>, Broken<'_, '_>>) -> T,
    out: &mut impl FnMut(T),
) {
    let mut state = S::default();
    let mut record = csv::ByteRecord::new();
    loop {
        // A chunk is read from memory: no read error can happen here.
        let Ok(next) = records.next(&mut record) else {
            return;
        };
        if matches!(next, Next::Pause | Next::End) {
            return;
        }
        place.emit(next, &record, &mut |read| out(interpret(&mut state, read)));
    }
}

/// The input cut into chunks.
struct Feed {
    /// Bytes read and not yet in a chunk.
    pending: Vec<u8>,
    chunk_bytes: usize,
    eof: bool,
}

impl Feed {
    /// Whether every byte of the input is in a chunk.
    fn done(&self) -> bool {
        self.eof && self.pending.is_empty()
    }

    /// The next chunk: the pending bytes topped up to `chunk_bytes` from
    /// `input`, cut after the last line end of their first `chunk_bytes`
    /// (all of them at the end of the input, or at `chunk_bytes` when they
    /// hold no line end). `None` when there is nothing more; on a read
    /// error, the bytes read before it, then the error.
    #[allow(clippy::type_complexity, reason = "a pair, once")]
    fn next_chunk(
        &mut self,
        input: &mut impl Read,
    ) -> Result<Option<Vec<u8>>, (Option<Vec<u8>>, std::io::Error)> {
        let mut filled = self.pending.len();
        if !self.eof && filled < self.chunk_bytes {
            self.pending.resize(self.chunk_bytes, 0);
            while filled < self.chunk_bytes {
                match input.read(self.pending.get_mut(filled..).unwrap_or_default()) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.pending.truncate(filled);
                        let rest = std::mem::take(&mut self.pending);
                        self.eof = true;
                        return Err(((!rest.is_empty()).then_some(rest), e));
                    }
                }
            }
            self.pending.truncate(filled);
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let limit = self.chunk_bytes.min(self.pending.len());
        let cut = if self.eof && self.pending.len() <= self.chunk_bytes {
            self.pending.len()
        } else {
            let head = self.pending.get(..limit).unwrap_or_default();
            memchr::memrchr(b'\n', head).map_or(limit, |at| at + 1)
        };
        let rest = self.pending.get(cut..).unwrap_or_default().to_vec();
        let mut chunk = std::mem::replace(&mut self.pending, rest);
        chunk.truncate(cut);
        Ok(Some(chunk))
    }
}

/// The line ends in `bytes` as [`Records`] counts them when no CR is inside
/// a quoted field: every LF, and every CR not followed by an LF.
fn line_ends(bytes: &[u8]) -> u64 {
    let lf = memchr::memchr_iter(b'\n', bytes).count();
    let lone_cr = memchr::memchr_iter(b'\r', bytes)
        .filter(|&at| bytes.get(at + 1) != Some(&b'\n'))
        .count();
    (lf + lone_cr) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reader saw of each row: its line and fields, or its error and
    /// the fields read whole, as text.
    fn seen(read: Result<&Row<'_>, Broken<'_, '_>>) -> String {
        let fields = |row: &Row<'_>| -> Vec<String> {
            row.record
                .iter()
                .take(row.whole)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect()
        };
        match read {
            Ok(row) => format!("{} {:?}", row.line, fields(row)),
            Err((error, row)) => format!("{error} / {:?}", row.map(fields)),
        }
    }

    fn file(bytes: &[u8]) -> Option<CsvFile<&[u8]>> {
        CsvFile::new("f.csv", bytes, &[])
            .ok()
            .map(|f| f.allow_line_breaks(&["b"]))
    }

    /// Every row `read_rows` gives, in order.
    fn whole(bytes: &[u8]) -> Option<Vec<String>> {
        let mut out = Vec::new();
        file(bytes)?.read_rows(|read| out.push(seen(read)));
        Some(out)
    }

    /// Every row the chunked reader gives, with chunks of `size` bytes, and
    /// the state each stretch starts with (a count of its rows) checked.
    fn chunked(bytes: &[u8], size: usize) -> Option<Vec<String>> {
        let mut out = Vec::new();
        file(bytes)?.read_rows_chunked(
            size,
            &|count: &mut usize, read| {
                *count += 1;
                (*count, seen(read))
            },
            &mut |(_, text)| out.push(text),
        );
        Some(out)
    }

    /// Reads `bytes` whole and in chunks of every size up to its length:
    /// the same rows, lines, errors, in the same order.
    fn same_every_way(bytes: &[u8]) {
        same_in_chunks(bytes, 1..=bytes.len() + 1);
    }

    /// Reads `bytes` whole and in chunks of each of `sizes`.
    fn same_in_chunks(bytes: &[u8], sizes: impl Iterator<Item = usize>) {
        let expected = whole(bytes);
        for size in sizes {
            assert_eq!(
                chunked(bytes, size),
                expected,
                "chunks of {size} bytes of {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn cut_anywhere_a_file_reads_as_whole() {
        for text in [
            &b"a,b,c\n1,2,3\n4,5,6\n"[..],
            b"a,b,c\r\n1,2,3\r\n\r\n4,5,6\r\n",
            b"a,b,c\r1,2,3\r\r4,5,6\r",
            b"\xEF\xBB\xBFa,b,c\n\xEF\xBB\xBF1,2,3\n\n\xEF\xBB\xBF\n4,5,6",
            b"a,b,c\n1,\"two\nlines\",3\n4,\"x\r\ny\",6\n7,\"p\rq\",9\n",
            b"a,b,c\n1,\"unclosed,3\n4,5,6\n7,8,9\n",
            b"a,b,c\n1,2\n3,4,5,6\n,,\n\n  ,  , \n7,8,9",
            b"a,b,c\n1,2,\"3\"\"x\"\n4,\"5\"y,6\n\"\"\"\",\"\",\n",
            b"a,b,c\n\r\n\r\r\n\n1,2,3\r",
            b"a,b,c\n\xFF,\xC3\x28,3\n",
        ] {
            same_every_way(text);
        }
    }

    /// The example drop's hostile `positions.csv` and `accounts.csv` (BOM,
    /// CRLF, quoted line ends, a cut last line, bytes that are not UTF-8),
    /// cut in many ways (every chunk size up to 64 bytes, then one in 97).
    #[test]
    fn the_hostile_example_reads_the_same_in_chunks() {
        for bytes in [
            &include_bytes!("../../../examples/hostile/positions.csv")[..],
            include_bytes!("../../../examples/hostile/accounts.csv"),
        ] {
            same_in_chunks(bytes, (1..=64).chain((65..=bytes.len() + 1).step_by(97)));
        }
    }

    #[test]
    fn random_bytes_read_the_same_in_chunks() {
        const ALPHABET: &[u8] = b"ab1,,,\"\"\r\n\n \xEF\xBB\xBF\xFF";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for _ in 0..800 {
            let len = usize::try_from(next() % 40).unwrap();
            let mut bytes = b"a,b,c\n".to_vec();
            for _ in 0..len {
                let pick = usize::try_from(next() % ALPHABET.len() as u64).unwrap();
                bytes.push(ALPHABET[pick]);
            }
            same_every_way(&bytes);
        }
    }

    /// A field over the limit spans many chunks: read in bounded memory,
    /// with the same error at the same line.
    #[test]
    fn an_oversized_field_across_chunks_reads_as_whole() {
        let long = "x".repeat(crate::MAX_FIELD_BYTES + 10);
        let text = format!("a,b,c\n1,2,3\n4,\"{long}\n{long}\",6\n7,{long},9\n10,11,12\n");
        let expected = whole(text.as_bytes());
        for size in [1000, 4096, 65_536, 100_000] {
            assert_eq!(chunked(text.as_bytes(), size), expected, "{size}");
        }
    }

    /// A read error keeps its place: the rows before it, then the error at
    /// the line reached.
    #[test]
    fn a_read_error_comes_after_the_rows_before_it() {
        /// `bytes`, then an error.
        struct Failing<'a>(&'a [u8]);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0.len()).min(7);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = b"a,b,c\n1,2,3\n4,\"5\n5\",6\n7,8";
        let mut expected = Vec::new();
        CsvFile::new("f.csv", Failing(text), &[])
            .unwrap()
            .read_rows(|read| expected.push(seen(read)));
        assert_eq!(
            expected.last().unwrap(),
            "f.csv line 5: unreadable row: disk on fire / None"
        );
        for size in 1..=text.len() + 1 {
            let mut got = Vec::new();
            CsvFile::new("f.csv", Failing(text), &[])
                .unwrap()
                .read_rows_chunked(size, &|_: &mut (), read| seen(read), &mut |t| got.push(t));
            assert_eq!(got, expected, "{size}");
        }
    }

    #[test]
    fn line_ends_count_lf_and_lone_cr() {
        assert_eq!(line_ends(b"a\nb\r\nc\rd\r"), 4);
        assert_eq!(line_ends(b""), 0);
    }
}
