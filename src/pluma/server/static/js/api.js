// JSON calls to the Pluma server. Why a wrapper: every failure turns into
// an ApiError whose message is the server's own explanation
// ({"error": {"message"}} or FastAPI's {"detail"}), so views can show it
// inline instead of a bare status code.

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Pull a human message out of an error body (any of the shapes we serve). */
export function errorMessage(body, status) {
  if (body && typeof body === "object") {
    if (body.error && typeof body.error === "object" && body.error.message) {
      return String(body.error.message);
    }
    if (typeof body.error === "string") return body.error;
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) {
      return body.detail
        .map((d) => `${(d.loc || []).filter((x) => x !== "body").join(".")}: ${d.msg}`)
        .join("; ");
    }
    if (typeof body.message === "string") return body.message;
  }
  return `the server answered HTTP ${status}`;
}

export async function readError(response) {
  let body = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const code = body && body.error && typeof body.error === "object" ? body.error.code : undefined;
  return new ApiError(errorMessage(body, response.status), response.status, code);
}

export async function api(path, { method = "GET", body, signal } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      signal,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(
      "cannot reach the Pluma server — is `pluma serve` still running?",
      0,
      "network",
    );
  }
  if (!response.ok) throw await readError(response);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}
