//! One message per error chain, each cause once.
//!
//! Errors reach the command line as a chain: contexts added by the caller
//! ("state database X") around library errors whose messages often name the
//! same file already ("state database X: …"), some of which also print their
//! source in their own message. Printing every link (`{:#}`) then repeats
//! prefixes two or three times. [`error_message`] joins the links instead,
//! from the innermost out, dropping what the text already says.

/// The message of an error and its causes, each said once.
///
/// Links are joined from the innermost cause outwards; an outer link is
/// - dropped when the text so far already starts with it (a context that
///   repeats the prefix of the error it wraps);
/// - taken alone when it already ends with the text so far (a message that
///   prints its own source);
/// - put in place of the first segment of the text so far when it starts
///   with that segment (`fee schedule f.toml` around `fee schedule: line 2:
///   …` gives `fee schedule f.toml: line 2: …`);
/// - merged when the text so far starts with its last word followed by `:`
///   (`scenario set a.toml` around `a.toml: line 3: …` gives
///   `scenario set a.toml: line 3: …`);
/// - otherwise put in front, with `: `.
///
/// Last, a `: `-separated segment that repeats an earlier one is dropped.
///
/// # Examples
///
/// ```
/// let error = anyhow::anyhow!("state database /x/s.sqlite: disk I/O error")
///     .context("state database /x/s.sqlite");
/// assert_eq!(exfee::error_message(&error), "state database /x/s.sqlite: disk I/O error");
/// ```
pub fn error_message(error: &anyhow::Error) -> String {
    let links: Vec<String> = error.chain().map(ToString::to_string).collect();
    join_links(&links)
}

/// [`error_message`] of the links' messages, outermost first.
pub fn join_links(links: &[String]) -> String {
    let mut text = String::new();
    for outer in links.iter().rev().map(|l| l.trim()) {
        if text.is_empty() {
            text = outer.to_string();
        } else if outer.is_empty() || text == outer || starts_with_link(&text, outer) {
            // Already said.
        } else if outer.ends_with(text.as_str()) {
            text = outer.to_string();
        } else if let Some((_, rest)) = text
            .split_once(": ")
            .filter(|(head, _)| !head.is_empty() && outer.starts_with(head))
        {
            // `fee schedule f.toml` around `fee schedule: line 2: …`.
            text = format!("{outer}: {rest}");
        } else if let Some(rest) = outer
            .rsplit(' ')
            .next()
            .filter(|word| !word.is_empty())
            .and_then(|word| text.strip_prefix(word))
            .filter(|rest| rest.starts_with(": "))
        {
            text = format!("{outer}{rest}");
        } else {
            text = format!("{outer}: {text}");
        }
    }
    drop_repeated_segments(&text)
}

/// `text` without the `: `-separated segments that repeat an earlier one
/// (a library error that prints its source, whose source prints the same
/// words again: `file is not a database: Error code 26: file is not a
/// database`).
fn drop_repeated_segments(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in text.split(": ") {
        if !kept.contains(&segment) {
            kept.push(segment);
        }
    }
    kept.join(": ")
}

/// Whether `text` starts with the whole message `link` (followed by the end
/// or by `: `).
fn starts_with_link(text: &str, link: &str) -> bool {
    text.strip_prefix(link)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(links: &[&str]) -> String {
        join_links(&links.iter().map(|l| l.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn each_cause_is_said_once() {
        // A context that repeats the error's own prefix, and an error that
        // prints its source.
        assert_eq!(
            join(&[
                "state database /o/s.sqlite",
                "state database /o/s.sqlite: file is not a database",
                "file is not a database",
            ]),
            "state database /o/s.sqlite: file is not a database"
        );
        // A context naming the file the error starts with.
        assert_eq!(
            join(&["scenario set a.toml", "a.toml: line 3: bad key"]),
            "scenario set a.toml: line 3: bad key"
        );
        // Distinct links are all kept, outermost first.
        assert_eq!(
            join(&[
                "fee schedule f.toml",
                "cannot read f.toml: denied",
                "denied"
            ]),
            "fee schedule f.toml: cannot read f.toml: denied"
        );
        assert_eq!(
            join(&["fee schedule f.toml", "fee schedule: line 2: bad"]),
            "fee schedule f.toml: line 2: bad"
        );
        // rusqlite's error, its source and the state crate's message: the
        // chain `exfee run` printed for a state file that is not a database.
        assert_eq!(
            join(&[
                "state database /o/s.sqlite",
                "state database /o/s.sqlite: file is not a database",
                "file is not a database",
                "Error code 26: file is not a database",
            ]),
            "state database /o/s.sqlite: file is not a database: Error code 26"
        );
        assert_eq!(join(&["a", "b", "c"]), "a: b: c");
        // A word that merely starts the inner text is not a repeat.
        assert_eq!(join(&["see", "seen: x"]), "see: seen: x");
        assert_eq!(join(&["only"]), "only");
    }
}
