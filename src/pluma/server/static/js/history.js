// Conversation history as the page holds it: the server's pluma.llm message
// JSON (role user/assistant/toolResult, camelCase fields).
//
// A stored conversation is never converted: the page sends POST /api/chat its
// id and the new turn, and the server reads the history from its store.
// toOpenAI is only for a server without a history store (it answers 503 to
// creating a conversation), where the page sends the whole history as
// OpenAI-style `messages` — losing thinking, as the table says.
//
// | stored (pluma.llm JSON)           | sent to /api/chat                          |
// |-----------------------------------|--------------------------------------------|
// | user, content string              | {role: "user", content}                    |
// | user, text/image blocks           | content parts: text, image_url (data: URL) |
// | assistant text + toolCall blocks  | {role: "assistant", content, tool_calls}   |
// | assistant thinking                | not sent (signatures cannot survive)       |
// | assistant that failed, no content | dropped (nothing for the model to see)     |
// | toolResult                        | {role: "tool", tool_call_id, content}      |

export function textOf(message) {
  if (typeof message.content === "string") return message.content;
  return (message.content || [])
    .filter((b) => b.type === "text")
    .map((b) => b.text)
    .join("");
}

export function toOpenAI(messages) {
  const out = [];
  for (const m of messages) {
    if (m.role === "user") {
      if (typeof m.content === "string") out.push({ role: "user", content: m.content });
      else {
        out.push({
          role: "user",
          content: m.content.map((b) =>
            b.type === "image"
              ? { type: "image_url", image_url: { url: `data:${b.mimeType};base64,${b.data}` } }
              : { type: "text", text: b.text }),
        });
      }
    } else if (m.role === "assistant") {
      const text = textOf(m);
      const calls = (m.content || []).filter((b) => b.type === "toolCall");
      if (!text && calls.length === 0) continue;
      const msg = { role: "assistant", content: text || null };
      if (calls.length) {
        msg.tool_calls = calls.map((c) => ({
          id: c.id,
          type: "function",
          function: { name: c.name, arguments: JSON.stringify(c.arguments || {}) },
        }));
      }
      out.push(msg);
    } else if (m.role === "toolResult") {
      out.push({ role: "tool", tool_call_id: m.toolCallId, content: textOf(m) });
    }
  }
  return out;
}

/** Index of the last user message, or -1. */
export function lastUserIndex(messages) {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    if (messages[i].role === "user") return i;
  }
  return -1;
}
