// The chat view: renders a conversation, streams replies from POST /api/chat,
// and offers Stop, Regenerate, edit-and-resend and Retry.
//
// Stream handling (one event per `data:` line, see sse.js):
// | line                               | effect                                 |
// |------------------------------------|----------------------------------------|
// | data: {chunk} delta.content        | appended to the answer text            |
// | delta.reasoning_content/.reasoning | appended to the collapsed "Reasoning"  |
// | delta.tool_calls[] (by index)      | shown as a tool call (name, arguments) |
// | chunk.usage (choices: [])          | the usage and cost line under the answer |
// | event: error + {"error": {...}}    | the turn fails inline, with next steps |
// | data: [DONE]                       | the turn is complete                   |
// | body ends without [DONE]           | reported as a cut stream               |
//
// Rendering is coalesced to one DOM update per animation frame, and the
// markdown renderer rebuilds only the growing tail block, so long answers
// stay smooth and the finished part never flickers.

import { h, clear, announce } from "./dom.js";
import { api, readError } from "./api.js";
import { postForEvents, readEvents } from "./sse.js";
import { toOpenAI, lastUserIndex, textOf } from "./history.js";
import { LiveReply, renderMessage } from "./messages.js";
import { errorPayload, nextStep } from "./errors.js";
import { Attachments } from "./attachments.js";

export { nextStep, renderMessage };

/** A user message's content: plain text, or text and image blocks. */
function compose(text, images) {
  if (!images.length) return text;
  return [...(text.trim() ? [{ type: "text", text }] : []), ...images];
}

/** OpenAI finish_reason → the stored message's stop reason. */
const FINISH = { stop: "stop", length: "length", tool_calls: "toolUse", function_call: "toolUse" };

const STICK_DISTANCE = 48; // px from the bottom that still counts as "following"

export class ChatView {
  constructor(app) {
    this.app = app;
    this.log = document.getElementById("messages");
    this.form = document.getElementById("composer");
    this.input = document.getElementById("composer-input");
    this.sendButton = document.getElementById("send");
    this.stopButton = document.getElementById("stop");
    this.editNote = document.getElementById("edit-note");
    this.systemPrompt = document.getElementById("system-prompt");
    this.jump = document.getElementById("jump-latest");
    this.attachments = new Attachments();
    this.conversation = null; // summary from the server
    this.messages = [];
    this.controller = null;
    this.editing = false;
    this.stick = true;
    this.epoch = 0; // bumped when another conversation is shown: late turn endings then stay out

    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      } else if (e.key === "Escape" && this.editing) {
        this.cancelEdit();
      }
    });
    this.stopButton.addEventListener("click", () => this.stop());
    this.form.addEventListener("dragover", (e) => {
      if (![...e.dataTransfer.types].includes("Files")) return;
      e.preventDefault();
      this.form.classList.add("dropping");
    });
    this.form.addEventListener("dragleave", () => this.form.classList.remove("dropping"));
    this.form.addEventListener("drop", (e) => {
      this.form.classList.remove("dropping");
      if (!e.dataTransfer.files.length) return;
      e.preventDefault();
      this.attachments.add([...e.dataTransfer.files]);
    });
    this.log.addEventListener("scroll", () => {
      const gap = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight;
      this.stick = gap < STICK_DISTANCE;
      this.jump.hidden = this.stick;
    }, { passive: true });
    this.jump.addEventListener("click", () => {
      this.stick = true;
      this.scroll();
    });
    this.systemPrompt.addEventListener("change", () => this.saveSystemPrompt());
    document.getElementById("cancel-edit").addEventListener("click", () => this.cancelEdit());
  }

  get streaming() {
    return this.controller !== null;
  }

  scroll() {
    if (this.stick) this.log.scrollTop = this.log.scrollHeight;
    this.jump.hidden = this.stick;
  }

  // -- conversations ------------------------------------------------------

  newConversation() {
    if (this.streaming) this.stop();
    this.epoch += 1;
    this.conversation = null;
    this.messages = [];
    this.systemPrompt.value = "";
    this.cancelEdit();
    this.render();
    this.app.sidebar.markActive(null);
    this.input.focus();
    this.app.resetConnection();
  }

  async open(id) {
    if (this.streaming) this.stop();
    this.epoch += 1;
    const epoch = this.epoch;
    const data = await api(`/api/conversations/${encodeURIComponent(id)}`);
    if (epoch !== this.epoch) return; // another click came after this one
    const { messages, ...summary } = data;
    await this.app.adoptConversation(summary); // its connection's models, then its model
    if (epoch !== this.epoch) return;
    this.conversation = summary;
    this.messages = messages;
    this.systemPrompt.value = summary.system_prompt || "";
    this.cancelEdit();
    this.stick = true;
    this.render();
    this.app.sidebar.markActive(id);
    history.replaceState(null, "", `#c=${encodeURIComponent(id)}`);
  }

  async ensureConversation() {
    if (this.conversation) return this.conversation;
    this.conversation = await api("/api/conversations", {
      method: "POST",
      body: {
        system_prompt: this.systemPrompt.value,
        model: this.app.model(),
        connection: this.app.connectionId(),
      },
    });
    history.replaceState(null, "", `#c=${encodeURIComponent(this.conversation.id)}`);
    this.app.sidebar.markActive(this.conversation.id); // highlighted once the list shows it
    return this.conversation;
  }

  async saveSystemPrompt() {
    if (!this.conversation) return;
    const id = this.conversation.id;
    try {
      const saved = await api(`/api/conversations/${encodeURIComponent(id)}`,
        { method: "PATCH", body: { system_prompt: this.systemPrompt.value } });
      // The reader may have opened another conversation meanwhile (the
      // change event fires when the box loses focus, e.g. to the list).
      if (this.conversation?.id === id) this.conversation = saved;
      announce("System prompt saved for this conversation.");
    } catch (err) {
      this.showError(err.message, nextStep(err.message, err.status, err.code));
    }
  }

  // -- rendering ----------------------------------------------------------

  render() {
    clear(this.log);
    if (this.messages.length === 0) {
      this.log.append(h("p", { class: "empty", text: "Send a message to start a conversation." }));
    }
    this.messages.forEach((m) => this.log.append(renderMessage(m)));
    this.renderActions();
    this.scroll();
  }

  renderActions() {
    for (const old of this.log.querySelectorAll(".msg-actions")) old.remove();
    if (this.streaming || this.messages.length === 0) return;
    const userAt = lastUserIndex(this.messages);
    if (userAt < 0) return;
    const buttons = [];
    // A fresh error box already offers Retry; don't offer it twice.
    const tail = this.log.lastElementChild;
    const errorHasRetry = tail?.classList.contains("error") && tail.querySelector("button.retry");
    if (!errorHasRetry) {
      const last = this.messages[this.messages.length - 1];
      const label = last.role === "assistant" && last.stopReason !== "error" ? "Regenerate" : "Retry";
      buttons.push(h("button", { type: "button", class: "secondary", text: label,
        onclick: () => this.regenerate() }));
    }
    buttons.push(h("button", { type: "button", class: "secondary", text: "Edit last message",
      onclick: () => this.beginEdit() }));
    this.log.append(h("div", { class: "msg-actions" }, buttons));
  }

  showError(message, hint, { retry = false } = {}) {
    const actions = [];
    if (/settings/i.test(hint)) {
      actions.push(h("button", { type: "button", class: "secondary", text: "Open Settings",
        onclick: () => this.app.show("settings") }));
    }
    if (retry) {
      actions.push(h("button", { type: "button", class: "secondary retry", text: "Retry",
        onclick: () => this.regenerate() }));
    }
    const el = h("div", { class: "error", role: "alert" },
      h("p", {}, h("strong", { text: "Error: " }), message),
      h("p", { class: "hint", text: hint }),
      actions.length ? h("div", { class: "row" }, actions) : null);
    this.log.append(el);
    this.scroll();
    return el;
  }

  // -- sending ------------------------------------------------------------

  submit() {
    const text = this.input.value;
    if ((!text.trim() && !this.attachments.count) || this.streaming) return;
    if (this.editing) {
      this.resendEdited(text);
      return;
    }
    this.input.value = "";
    this.send(compose(text, this.attachments.take()));
  }

  /** Send a user message (`content`: a string, or text and image blocks). */
  async send(content) {
    const user = { role: "user", content, timestamp: Date.now() };
    this.messages.push(user);
    this.log.querySelector(".empty")?.remove();
    for (const old of this.log.querySelectorAll(".msg-actions")) old.remove();
    this.log.append(renderMessage(user));
    this.stick = true;
    this.scroll();
    await this.runTurn();
  }

  /** Drop the last user message and everything after it, here and on the server. */
  async dropFromLastUser() {
    const at = lastUserIndex(this.messages);
    if (at < 0) return null;
    const removed = this.messages[at];
    this.messages = this.messages.slice(0, at);
    if (this.conversation) {
      await api(`/api/conversations/${encodeURIComponent(this.conversation.id)}/truncate`, {
        method: "POST",
        body: { keep: at },
      });
    }
    return removed;
  }

  async regenerate() {
    if (this.streaming) return;
    try {
      const user = await this.dropFromLastUser();
      if (!user) return;
      this.render();
      await this.send(user.content); // the same message, images included
    } catch (err) {
      this.showError(err.message, nextStep(err.message, err.status, err.code));
    }
  }

  beginEdit() {
    const at = lastUserIndex(this.messages);
    if (at < 0 || this.streaming) return;
    this.editing = true;
    this.input.value = textOf(this.messages[at]);
    this.editNote.hidden = false;
    this.sendButton.textContent = "Resend";
    this.input.focus();
  }

  cancelEdit() {
    if (!this.editing) return;
    this.editing = false;
    this.editNote.hidden = true;
    this.sendButton.textContent = "Send";
    this.input.value = "";
  }

  async resendEdited(text) {
    this.cancelEdit();
    try {
      const removed = await this.dropFromLastUser();
      // The edited message keeps its images; newly attached ones are added.
      const kept = Array.isArray(removed?.content)
        ? removed.content.filter((b) => b.type === "image") : [];
      this.render();
      await this.send(compose(text, [...kept, ...this.attachments.take()]));
    } catch (err) {
      this.showError(err.message, nextStep(err.message, err.status, err.code));
    }
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  setStreaming(on) {
    this.sendButton.hidden = on;
    this.stopButton.hidden = !on;
    if (on) this.stopButton.focus({ preventScroll: true });
    else if (document.activeElement === this.stopButton || document.activeElement === document.body) {
      this.input.focus({ preventScroll: true });
    }
  }

  async runTurn() {
    let conversation = null;
    try {
      conversation = await this.ensureConversation();
    } catch (err) {
      if (err.status !== 503) {
        this.showError(err.message, nextStep(err.message, err.status, err.code), { retry: true });
        return;
      }
      // No history store on the server: chat anyway, and say it is not saved.
      this.log.append(h("p", { class: "note", role: "note",
        text: `This conversation is not being saved: ${err.message}` }));
    }
    const epoch = this.epoch;
    const live = new LiveReply(() => this.scroll());
    this.log.append(live.el);
    this.scroll();
    const controller = new AbortController();
    this.controller = controller;
    this.setStreaming(true);
    announce("Answer streaming…");
    // A stored conversation: send only the new turn; the server reads the
    // history from its store, thinking signatures and tool calls intact.
    // Without one (no history store on the server), send the whole history.
    const body = conversation
      ? { conversation_id: conversation.id, message: this.messages[this.messages.length - 1] }
      : { messages: toOpenAI(this.messages) };
    const model = this.app.model();
    const connection = this.app.connectionId();
    if (model) body.model = model;
    if (connection) body.connection = connection;
    if (this.systemPrompt.value.trim()) body.system = this.systemPrompt.value;
    const reasoning = this.app.reasoning();
    if (reasoning) body.reasoning = reasoning;

    let outcome = { stop: "stop" };
    try {
      const response = await postForEvents("/api/chat", body, controller.signal);
      if (!response.ok) {
        const err = await readError(response);
        outcome = { stop: "error", message: err.message, status: err.status, code: err.code };
      } else {
        outcome = await this.consume(response, live);
      }
    } catch (err) {
      if (err.name === "AbortError") outcome = { stop: "aborted" };
      else {
        outcome = { stop: "error", message: "the connection to the Pluma server was lost",
          code: "network" };
      }
    }
    live.end();
    this.controller = null;
    this.setStreaming(false);
    if (epoch !== this.epoch) {
      // The reader moved to another conversation meanwhile; the server has
      // stored this turn in its own conversation.
      this.app.sidebar.refresh();
      return;
    }
    const message = live.message(outcome.stop, outcome.message);
    this.messages.push(message);
    if (outcome.stop === "aborted") {
      live.el.append(h("p", { class: "note", text: "Stopped — the partial answer is kept." }));
      announce("Stopped.");
    } else if (outcome.stop === "error") {
      if (!live.parts.length) live.el.classList.add("failed");
      this.showError(outcome.message, nextStep(outcome.message, outcome.status, outcome.code),
        { retry: true });
      if (outcome.code === "model_required") this.app.askForModel();
      announce("The answer failed.");
    } else {
      if (outcome.stop === "length") {
        live.el.append(h("p", { class: "note", text: "The answer hit the length limit." }));
      }
      announce("Answer complete.");
    }
    this.renderActions();
    this.scroll();
    await this.syncFromServer();
    this.app.sidebar.refresh();
  }

  async consume(response, live) {
    let finish = "";
    for await (const { event, data } of readEvents(response)) {
      if (event === "error") {
        const err = errorPayload(data);
        return { stop: "error", message: err.message, code: err.code };
      }
      if (data === "[DONE]") return { stop: FINISH[finish] || "stop" };
      let chunk;
      try {
        chunk = JSON.parse(data);
      } catch {
        continue; // not JSON: nothing to show
      }
      if (chunk && chunk.error) {
        const err = errorPayload(data);
        return { stop: "error", message: err.message, code: err.code };
      }
      for (const choice of chunk.choices || []) {
        const delta = choice.delta || {};
        const thinking = delta.reasoning_content ?? delta.reasoning;
        if (typeof thinking === "string" && thinking) live.add("thinking", thinking);
        if (typeof delta.content === "string" && delta.content) live.add("text", delta.content);
        for (const call of delta.tool_calls || []) live.toolCall(call);
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      if (chunk.usage) live.usage(chunk.usage);
    }
    return {
      stop: "error",
      message: "the answer stopped before it was complete (the stream ended without [DONE])",
    };
  }

  /** Adopt the server's copy of the messages when it matches what we show
   * (same count), so later Regenerate/Edit work on exactly what is stored. */
  async syncFromServer() {
    if (!this.conversation) return;
    const epoch = this.epoch;
    try {
      const data = await api(`/api/conversations/${encodeURIComponent(this.conversation.id)}`);
      if (epoch !== this.epoch) return; // another conversation is shown now
      const { messages, ...summary } = data;
      this.conversation = summary;
      if (messages.length === this.messages.length) this.messages = messages;
    } catch {
      // The page keeps working from its own copy.
    }
  }
}
