// Server-sent events from a fetch() body. Why not EventSource: the chat is
// a POST with a JSON body and must be abortable (Stop), which EventSource
// cannot do. One event per `data:` line, as the server's chat stream and
// the seeds promise; `event:` names the next data line (e.g. `error`).
//
// | line            | effect                                     |
// |-----------------|--------------------------------------------|
// | `event: NAME`   | the next data line is reported as NAME     |
// | `data: TEXT`    | yield {event, data: TEXT}                   |
// | `: comment`     | ignored (keep-alives)                      |
// | blank line      | resets the event name                      |
// CRLF and lines split across network reads are handled.

export async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let eventName = "message";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          eventName = "message";
        } else if (line.startsWith(":")) {
          // comment / keep-alive
        } else if (line.startsWith("event:")) {
          eventName = line.slice(6).trim() || "message";
        } else if (line.startsWith("data:")) {
          let data = line.slice(5);
          if (data.startsWith(" ")) data = data.slice(1);
          yield { event: eventName, data };
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** POST a JSON body to a streaming endpoint (/api/chat, /api/images/generate);
 * `signal` aborts it, which the server takes as the client leaving. */
export function postForEvents(path, body, signal) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
}
