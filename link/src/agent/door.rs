//! The agent's door: every query to the agent lands here first. Hellos are
//! answered at once; a request with a wrong token or garbled JSON is refused
//! at once and goes no further; the rest is handed to the working thread.
//! The door never waits on the work, so a wrong token is told quickly even
//! while a part is starting.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::link::{AgentReply, AgentRequest, Hello, LINK_PROTOCOL};
use zenoh::query::Query;
use zenoh::Wait;

use super::work::{Request, Work};
use crate::token::Token;
use crate::wire;

/// Queries waiting at the door; more are dropped (the asker times out).
pub const WAITING: usize = 64;

pub enum Knock {
    Hello(Query),
    Request(Query),
}

pub struct Door {
    pub name: String,
    pub token: Token,
    pub work: Sender<Work>,
}

impl Door {
    /// Answers knocks until every sender is gone.
    pub fn serve(&self, knocks: Receiver<Knock>) {
        for knock in knocks {
            match knock {
                Knock::Hello(query) => {
                    let reply = self.hello(wire::decode(query.payload()));
                    answer(&query, &reply);
                }
                Knock::Request(query) => match self.admit(wire::decode(query.payload())) {
                    Ok(request) => match self.work.try_send(Work::Request(request, query)) {
                        Ok(()) => {}
                        Err(TrySendError::Full(work)) => {
                            if let Work::Request(_, query) = work {
                                let busy = "the agent is busy with earlier requests; try again";
                                answer(&query, &refused(busy));
                            }
                        }
                        Err(TrySendError::Disconnected(_)) => return,
                    },
                    Err(reply) => answer(&query, &reply),
                },
            }
        }
    }

    fn hello(&self, hello: Result<Hello, wire::WireError>) -> AgentReply {
        let hello = match hello {
            Ok(hello) => hello,
            Err(e) => return garbled(e),
        };
        if hello.protocol != LINK_PROTOCOL {
            return refused(&format!(
                "the coordinator speaks link protocol {}, agent `{}` speaks {LINK_PROTOCOL}: run the same plexus version on both hosts",
                hello.protocol, self.name
            ));
        }
        if !self.token.accepts(&hello.token) {
            return wrong_token(&self.name);
        }
        AgentReply::Welcome {
            agent: self.name.clone(),
            mono_ns: monotonic_ns(),
        }
    }

    fn admit(&self, request: Result<AgentRequest, wire::WireError>) -> Result<Request, AgentReply> {
        let request = request.map_err(garbled)?;
        let (token, admitted) = match request {
            AgentRequest::Check { token, part } => (token, Request::Check(Box::new(part))),
            AgentRequest::Start { token, part } => (token, Request::Start(Box::new(part))),
            AgentRequest::RestartWorker { token, worker } => {
                (token, Request::RestartWorker(worker))
            }
            AgentRequest::Stop { token } => (token, Request::Stop),
        };
        match self.token.accepts(&token) {
            true => Ok(admitted),
            false => Err(wrong_token(&self.name)),
        }
    }
}

fn refused(reason: &str) -> AgentReply {
    AgentReply::Refused {
        reason: reason.to_string(),
    }
}

fn wrong_token(agent: &str) -> AgentReply {
    tracing::warn!("refused a coordinator that presented a wrong token");
    refused(&format!(
        "wrong token: the pipeline's link.token_file does not hold the secret agent `{agent}` was given with --token-file"
    ))
}

fn garbled(e: wire::WireError) -> AgentReply {
    tracing::warn!("refused a query: {e}");
    refused(&e.to_string())
}

/// Replies to `query`; the asker may have given up, which is its affair.
pub fn answer(query: &Query, reply: &AgentReply) {
    if let Err(e) = query
        .reply(query.key_expr().clone(), wire::encode(reply))
        .wait()
    {
        tracing::debug!("replying to {}: {e}", query.key_expr());
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn door() -> (Door, tempfile::NamedTempFile) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "s3cret\n").unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        let door = Door {
            name: "b".into(),
            token: Token::read(file.path(), "--token-file").unwrap(),
            work: crossbeam_channel::bounded(1).0,
        };
        (door, file)
    }

    fn hello(protocol: u32, token: &str) -> Result<Hello, wire::WireError> {
        Ok(Hello {
            protocol,
            token: token.into(),
            runtime: "r1".into(),
        })
    }

    fn refusal(reply: &AgentReply) -> &str {
        match reply {
            AgentReply::Refused { reason } => reason,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_hello_is_welcomed_only_with_the_token_and_the_protocol() {
        let (door, _file) = door();
        let welcome = door.hello(hello(LINK_PROTOCOL, "s3cret"));
        assert!(matches!(welcome, AgentReply::Welcome { agent, .. } if agent == "b"));
        assert!(refusal(&door.hello(hello(LINK_PROTOCOL, "guess"))).starts_with("wrong token"));
        assert!(refusal(&door.hello(hello(LINK_PROTOCOL + 1, "s3cret"))).contains("protocol"));
        let garbled = wire::decode_bytes::<Hello>(b"{nope");
        assert!(refusal(&door.hello(garbled)).contains("not what plexus-link expects"));
    }

    #[test]
    fn a_request_with_a_wrong_token_goes_no_further() {
        let (door, _file) = door();
        let stop = |token: &str| {
            Ok(AgentRequest::Stop {
                token: token.into(),
            })
        };
        assert!(matches!(door.admit(stop("s3cret")), Ok(Request::Stop)));
        let refused = door.admit(stop("s3cre")).err().unwrap();
        assert!(refusal(&refused).starts_with("wrong token"));
        let huge = wire::decode_bytes::<AgentRequest>(&vec![b' '; wire::MAX_JSON + 1]);
        assert!(refusal(&door.admit(huge).err().unwrap()).contains("larger than"));
    }
}
