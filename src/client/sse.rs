//! A Server-Sent Events reader for `dunder tail`: bytes in, whole events
//! out, across chunk boundaries, as the EventSource rules read them
//! (`id`, `event`, `data` fields; `:` comments such as the heartbeat; a
//! blank line ends an event). Lines end with `\n` or `\r\n`, as the server
//! writes them.

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `message` unless the event named itself (`lagged`, ...).
    pub name: String,
    pub id: Option<String>,
    pub data: String,
}

/// The bytes read so far that make no whole event yet.
#[derive(Default)]
pub struct Reader {
    line: Vec<u8>,
    name: Option<String>,
    id: Option<String>,
    data: Option<String>,
}

impl Reader {
    /// Reads `chunk`; returns the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in chunk {
            if byte != b'\n' {
                self.line.push(byte);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.take_line(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        events
    }

    fn take_line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            // A blank line ends an event; one without data is no event.
            let name = self.name.take();
            let id = self.id.take();
            let data = self.data.take()?;
            return Some(Event {
                name: name.unwrap_or_else(|| "message".to_owned()),
                id,
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream = b": heartbeat\n\nid: 01A\ndata: {\"a\":1}\n\nevent: lagged\r\ndata: {\"cursor\":\"c\"}\r\n\r\n";
        for split in 0..stream.len() {
            let mut reader = Reader::default();
            let mut events = reader.push(&stream[..split]);
            events.extend(reader.push(&stream[split..]));
            assert_eq!(
                events,
                [
                    Event {
                        name: "message".into(),
                        id: Some("01A".into()),
                        data: "{\"a\":1}".into()
                    },
                    Event {
                        name: "lagged".into(),
                        id: None,
                        data: "{\"cursor\":\"c\"}".into()
                    }
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn data_lines_join_and_unfinished_events_wait() {
        let mut reader = Reader::default();
        assert_eq!(reader.push(b"data: a\ndata:b\n"), []);
        let events = reader.push(b"\n");
        assert_eq!(events[0].data, "a\nb");
        assert_eq!(events[0].id, None);
    }
}
