//! Why a job stopped before its end, as a type: the caller branches on the
//! variant, not on the words.

use std::fmt;

use crate::error::{Error, TransportErrorKind};

/// Why a job stopped before its end ([`JobSummary::stopped_by`](super::JobSummary::stopped_by)).
/// Either way the accounts not done stay in the journal for a
/// [`Job::resume`](super::Job::resume).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StopReason {
    /// An answer that would hit every request: credentials, permission,
    /// app configuration ([`ErrorKind::is_fatal`](crate::ErrorKind::is_fatal)).
    /// Fix what it names, then resume.
    Refused(Error),
    /// No answer from the service (transport, an HTTP error, a reply that
    /// could not be read) for three requests in a row, or for every request
    /// of a shorter run; the error is the last one. Resume once the service
    /// answers again.
    NoAnswer(Error),
}

impl StopReason {
    /// The error behind the stop.
    pub fn error(&self) -> &Error {
        match self {
            StopReason::Refused(e) | StopReason::NoAnswer(e) => e,
        }
    }

    /// Whether the job stopped because the service gave no answer (so a
    /// resume later may simply work), not because it refused.
    pub fn is_no_answer(&self) -> bool {
        matches!(self, StopReason::NoAnswer(_))
    }

    /// The stop of a run whose last unanswered work failed with `last`.
    pub(super) fn no_answer(last: &Option<Error>) -> StopReason {
        StopReason::NoAnswer(last.clone().unwrap_or_else(|| {
            Error::transport(TransportErrorKind::Other, "no error was recorded")
        }))
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Refused(e) => write!(f, "{e}"),
            StopReason::NoAnswer(e) => write!(f, "no answer from the service: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn the_words_and_the_variant_agree() {
        let down = StopReason::no_answer(&Some(Error::transport(
            TransportErrorKind::Connect,
            "http://h: the connection could not be established",
        )));
        assert!(down.is_no_answer());
        assert!(down.to_string().starts_with("no answer from the service: "));
        let refused = StopReason::Refused(Error::Api(ApiError::new(30005, "disabled", "")));
        assert!(!refused.is_no_answer());
        assert_eq!(refused.error().code(), Some(30005));
        assert!(
            refused.to_string().starts_with("API error 30005"),
            "{refused}"
        );
        assert!(StopReason::no_answer(&None).is_no_answer());
    }
}
