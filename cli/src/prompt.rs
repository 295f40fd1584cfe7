//! Questions on the terminal, as Docker asks them: a line typed after a label (`login`), and the
//! `[y/N]` confirmation before a prune.

use std::io::{BufRead, Write};

/// Prints `label` on stdout and reads one line from stdin, trimmed. The label is flushed first:
/// it ends without a newline, so it would otherwise sit in the buffer while the user types.
pub(crate) fn line(label: &str) -> anyhow::Result<String> {
    print!("{label}");
    std::io::stdout().flush()?;
    read_answer(&mut std::io::stdin().lock())
}

/// Prints `warning` and Docker's question; true only for an answer of yes.
pub(crate) fn confirm(warning: &str) -> anyhow::Result<bool> {
    let answer = line(&confirmation(warning))?;
    Ok(is_yes(&answer))
}

fn confirmation(warning: &str) -> String {
    format!("{warning}\nAre you sure you want to continue? [y/N] ")
}

fn read_answer(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_one_trimmed_line() {
        let mut input = std::io::Cursor::new("  alice \nrest\n");
        assert_eq!(read_answer(&mut input).unwrap(), "alice");
        assert_eq!(read_answer(&mut input).unwrap(), "rest");
        assert_eq!(read_answer(&mut input).unwrap(), "", "at EOF");
    }

    #[test]
    fn only_yes_confirms() {
        assert!(is_yes("y\n") && is_yes("Y") && !is_yes("") && !is_yes("n"));
        assert!(is_yes("yes") && is_yes("YES") && !is_yes("yeah"));
        assert_eq!(
            confirmation("WARNING! This will remove all dangling images."),
            "WARNING! This will remove all dangling images.\n\
             Are you sure you want to continue? [y/N] "
        );
    }
}
