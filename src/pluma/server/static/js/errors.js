// Turning failures into something a person can act on.

export function errorPayload(data) {
  try {
    const body = JSON.parse(data);
    if (body && body.error) {
      return typeof body.error === "string"
        ? { message: body.error }
        : { message: body.error.message || "the backend reported an error", code: body.error.code,
          type: body.error.type };
    }
  } catch {
    // plain-text error data (the seed's original format)
  }
  return { message: data || "the backend reported an error" };
}

/** What to do next, for an error message the server or the stream gave. */
export function nextStep(message, status, code) {
  const text = `${message} ${code || ""}`.toLowerCase();
  if (code === "network" || status === 0) {
    return "Check that `pluma serve` is still running, then press Retry.";
  }
  if (code === "unknown_conversation" || code === "conversation_not_found") {
    return "This conversation is gone from the server (deleted in another window?). Copy what you need, then press + New chat.";
  }
  if (code === "model_required") {
    return "Pick a model in the Model menu above (this connection has no default model), then press Retry.";
  }
  if (text.includes("api key") || text.includes("api_key") || status === 401 || status === 403) {
    return "Open Settings → Connections and set the API key for this connection, then press Retry.";
  }
  if (text.includes("no connection") || text.includes("no_connection")) {
    return "Open Settings → Connections to add or activate a connection.";
  }
  if (text.includes("model")) {
    return "Pick another model above, or check the connection's default model in Settings.";
  }
  if (status === 429 || text.includes("rate")) {
    return "The backend is rate-limiting; wait a moment and press Retry.";
  }
  return "Check the connection in Settings (Test shows whether the backend answers), then press Retry.";
}
