//! What can go wrong in a build, one variant per cause; `services::status` gives each its code.

use super::lex::LexError;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile cannot be read: a syntax error, an unknown instruction or flag, a bad
    /// expansion. Reported before anything runs, naming the file and the line.
    #[error("{file}:{line}: {message}")]
    Dockerfile {
        file: String,
        line: usize,
        message: String,
    },

    /// An expansion that failed while the step ran (`${V:?msg}` with V unset).
    #[error("{file}:{line}: {source}")]
    Expansion {
        file: String,
        line: usize,
        #[source]
        source: LexError,
    },

    /// A RUN whose process exited non-zero (BuildKit's wording).
    #[error("process \"{command}\" did not complete successfully: exit code: {code}")]
    RunFailed { command: String, code: i32 },

    /// COPY/ADD named a source that is not in the context (or the stage).
    #[error("failed to compute cache key: \"{path}\": not found")]
    SourceNotFound { path: String },

    /// A source path that leaves the context (`../x`).
    #[error("forbidden path outside the build context: {path}")]
    OutsideContext { path: String },

    /// `--target` names no stage.
    #[error("target stage \"{0}\" could not be found")]
    UnknownTarget(String),

    /// A flag or value the builder refuses (`--platform` of another platform, a bad label).
    #[error("{0}")]
    Invalid(String),

    /// Something the Dockerfile asks for that Ferry does not do yet (RUN --mount, ADD of a URL).
    #[error("{file}:{line}: {what} is not supported")]
    Unsupported {
        file: String,
        line: usize,
        what: String,
    },

    /// The client hung up or the build was cancelled.
    #[error("build cancelled")]
    Cancelled,
}
