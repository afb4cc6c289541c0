//! JSON over HTTP with retries: `POST url` with a JSON body, JSON back. 429, 5xx and connection
//! errors are retried with exponential backoff (a `Retry-After` header in seconds is honoured);
//! other failures return at once.

use std::time::Duration;

use serde_json::Value as Json;

use super::{excerpt, Error, Result};

/// Longest response body read.
const MAX_BODY: u64 = 256 << 20;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A blocking client for one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    api_key: Option<String>,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Wait before the first retry; doubled each time.
    pub backoff: Duration,
}

enum Attempt {
    Done(Json),
    Retry {
        error: Error,
        wait: Option<Duration>,
    },
    Fail(Error),
}

impl Http {
    /// A client with a total per-request timeout.
    pub fn new(timeout: Duration, api_key: Option<String>, max_retries: usize) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Http {
            agent,
            api_key,
            max_retries,
            backoff: Duration::from_millis(500),
        }
    }

    /// `POST url` with `body`; the parsed JSON response of the first successful attempt.
    pub fn post_json(&self, url: &str, body: &Json) -> Result<Json> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Encode {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let mut attempt = 0usize;
        loop {
            match self.attempt(url, &bytes, attempt + 1) {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { error, wait } => {
                    if attempt >= self.max_retries {
                        return Err(error);
                    }
                    let backoff = self
                        .backoff
                        .saturating_mul(1u32 << attempt.min(16))
                        .min(MAX_BACKOFF);
                    let wait = wait.map_or(backoff, |w| w.min(MAX_BACKOFF));
                    tracing::warn!("{error}; retrying in {:.1}s", wait.as_secs_f64());
                    std::thread::sleep(wait);
                    attempt += 1;
                }
            }
        }
    }

    fn attempt(&self, url: &str, body: &[u8], attempts: usize) -> Attempt {
        let mut req = self
            .agent
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(key) = &self.api_key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => {
                let error = Error::Transport {
                    url: url.to_string(),
                    attempts,
                    message: e.to_string(),
                };
                return match e {
                    ureq::Error::Io(_)
                    | ureq::Error::Timeout(_)
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::Protocol(_) => Attempt::Retry { error, wait: None },
                    _ => Attempt::Fail(error),
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Retry {
                    error: Error::Transport {
                        url: url.to_string(),
                        attempts,
                        message: format!("reading the HTTP {status} response body: {e}"),
                    },
                    wait: None,
                }
            }
        };
        if !(200..300).contains(&status) {
            let error = Error::Status {
                url: url.to_string(),
                status,
                attempts,
                body: excerpt(&text),
            };
            return if status == 429 || status >= 500 {
                Attempt::Retry {
                    error,
                    wait: retry_after,
                }
            } else {
                Attempt::Fail(error)
            };
        }
        match serde_json::from_str(&text) {
            Ok(v) => Attempt::Done(v),
            Err(e) => Attempt::Fail(Error::BadJson {
                url: url.to_string(),
                message: e.to_string(),
                body: excerpt(&text),
            }),
        }
    }
}
