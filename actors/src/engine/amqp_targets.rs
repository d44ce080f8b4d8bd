//! The broker's addresses: `RABBITMQ_URL` may list the nodes of a RabbitMQ cluster separated
//! by commas. Each connection (publishing, reports, control) tries them in turn, starting
//! with the one that answered last, so a node going down costs one failed attempt.

use std::sync::atomic::{AtomicUsize, Ordering};

use lapin::{Connection, ConnectionProperties};

/// Several AMQP URLs, tried in turn.
#[derive(Debug)]
pub struct AmqpTargets {
    urls: Vec<String>,
    /// The index to try first (the last that answered).
    next: AtomicUsize,
}

impl AmqpTargets {
    /// The comma-separated URLs of `text` (at least one: an empty list keeps `text` itself).
    pub fn parse(text: &str) -> AmqpTargets {
        let mut urls: Vec<String> = (text.split(','))
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_string)
            .collect();
        if urls.is_empty() {
            urls.push(text.to_string());
        }
        AmqpTargets {
            urls,
            next: AtomicUsize::new(0),
        }
    }

    #[cfg(test)]
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Connects to the first node that answers, starting with the last one that did.
    pub async fn connect(&self, name: &str) -> Result<Connection, lapin::Error> {
        let start = self.next.load(Ordering::Relaxed);
        let mut last_error = None;
        for offset in 0..self.urls.len() {
            let index = (start + offset) % self.urls.len();
            let properties = ConnectionProperties::default().with_connection_name(name.into());
            match Connection::connect(&self.urls[index], properties).await {
                Ok(connection) => {
                    if index != start {
                        tracing::info!(
                            node = index + 1,
                            nodes = self.urls.len(),
                            connection = name,
                            "connected to another RabbitMQ node"
                        );
                    }
                    self.next.store(index, Ordering::Relaxed);
                    return Ok(connection);
                }
                Err(error) => {
                    if self.urls.len() > 1 {
                        tracing::warn!(node = index + 1, nodes = self.urls.len(), connection = name,
                            %error, "RabbitMQ node unavailable; trying the next");
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("one URL at least"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_urls_is_split_on_commas() {
        let targets = AmqpTargets::parse("amqp://a:5672/%2f, amqp://b:5672/%2f,");
        assert_eq!(targets.urls(), ["amqp://a:5672/%2f", "amqp://b:5672/%2f"]);
        assert_eq!(AmqpTargets::parse("amqp://one").urls(), ["amqp://one"]);
    }
}
