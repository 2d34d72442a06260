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
// A stored conversation is a tree (see branches.js): Regenerate asks the
// server for a new answer to the same message (`regenerate`), and
// edit-and-resend sends the edited message under the edited one's parent
// (`parent_id`); both add a version beside the earlier ones, which stay one
// `‹ 2/3 ›` click away. Generation settings (generation.js) are saved with
// the conversation, which the server applies to every turn.
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
import { versionNav } from "./branches.js";
import { GenerationFields } from "./generation.js";

export { nextStep, renderMessage };

/** A user message's content: plain text, or text and image blocks. */
function compose(text, images) {
  if (!images.length) return text;
  return [...(text.trim() ? [{ type: "text", text }] : []), ...images];
}

/** OpenAI finish_reason → the stored message's stop reason. */
const FINISH = { stop: "stop", length: "length", tool_calls: "toolUse", function_call: "toolUse" };

const STICK_DISTANCE = 48; // px from the bottom that still counts as "following"
const STOP_SAVE_WAIT_MS = 3000; // how long Stop waits for the server's copy of the answer

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
    this.path = []; // beside messages: each one's id and sibling versions (stored conversations)
    this.editAt = -1; // the message being edited
    this.generation = new GenerationFields({ reasoning: false });
    document.getElementById("generation-host").append(this.generation.el);
    this.generation.onChange(() => this.saveSettings());
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
    this.path = [];
    this.systemPrompt.value = "";
    this.cancelEdit();
    this.render();
    this.app.sidebar.markActive(null);
    this.input.focus();
    this.app.resetConnection().then(() => this.showDefaults());
  }

  /** A conversation not created yet starts from its connection's defaults. */
  showDefaults() {
    if (this.conversation) return;
    this.showSettings(this.app.connectionDefaults());
  }

  showSettings(settings) {
    this.generation.set(settings);
    this.app.setReasoning(settings?.reasoning || "");
  }

  /** The settings shown: the panel's fields and the header's reasoning. */
  settings() {
    const out = this.generation.value();
    const reasoning = this.app.reasoning();
    if (reasoning) out.reasoning = reasoning;
    return out;
  }

  async saveSettings() {
    this.generation.clearError();
    if (!this.conversation) return; // sent when the conversation is created
    const id = this.conversation.id;
    try {
      const saved = await api(`/api/conversations/${encodeURIComponent(id)}`,
        { method: "PATCH", body: { settings: this.settings() } });
      if (this.conversation?.id === id) this.conversation = saved;
      announce("Generation settings saved for this conversation.");
    } catch (err) {
      this.generation.showError(err);
      this.generation.el.closest("details").open = true;
    }
  }

  /** Open a stored conversation; with ``through`` (a message id, e.g. a
   * search hit in an older version) on the branch that holds that message. */
  async open(id, { through = null } = {}) {
    if (this.streaming) this.stop();
    this.epoch += 1;
    const epoch = this.epoch;
    const url = `/api/conversations/${encodeURIComponent(id)}`;
    const data = through
      ? await api(`${url}/branch`, { method: "POST", body: { message_id: through } })
      : await api(url);
    if (epoch !== this.epoch) return; // another click came after this one
    const { messages, path, ...summary } = data;
    await this.app.adoptConversation(summary); // its connection's models, then its model
    if (epoch !== this.epoch) return;
    this.conversation = summary;
    this.messages = messages;
    this.path = path || [];
    this.systemPrompt.value = summary.system_prompt || "";
    this.showSettings(summary.settings);
    this.cancelEdit();
    this.stick = true;
    this.render();
    this.app.sidebar.markActive(id);
    history.replaceState(null, "", `#c=${encodeURIComponent(id)}`);
  }

  async ensureConversation() {
    if (this.conversation) return this.conversation;
    try {
      this.conversation = await api("/api/conversations", {
        method: "POST",
        body: {
          system_prompt: this.systemPrompt.value,
          model: this.app.model(),
          connection: this.app.connectionId(),
          settings: this.settings(),
        },
      });
    } catch (err) {
      if (err.status === 400) {
        this.generation.showError(err);
        this.generation.el.closest("details").open = true;
      }
      throw err;
    }
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
    this.decorate();
    this.renderActions();
    this.scroll();
  }

  /** Give each shown message its version switch and, for a user message of
   * a stored conversation, Edit (none while an answer streams). */
  decorate() {
    for (const old of this.log.querySelectorAll(".msg-tools")) old.remove();
    const articles = this.log.querySelectorAll("article.msg");
    if (articles.length !== this.messages.length) return;
    const known = this.path.length === this.messages.length;
    this.messages.forEach((message, i) => {
      const nav = known ? versionNav(this.path[i], (id, dir) => this.showVersion(i, id, dir),
        { disabled: this.streaming }) : null;
      const edit = message.role === "user" && !this.streaming && known
        ? h("button", { type: "button", class: "link edit-message", text: "Edit",
          "aria-label": "Edit this message", onclick: () => this.beginEdit(i) })
        : null;
      // Beside the article, not in it: the article holds the message alone.
      if (nav || edit) articles[i].after(h("div", { class: `msg-tools ${message.role}` }, nav, edit));
    });
  }

  /** Show another version of message ``i`` (and the branch below it). */
  async showVersion(i, id, dir) {
    if (this.streaming || !this.conversation) return;
    const cid = this.conversation.id;
    const epoch = this.epoch;
    try {
      const data = await api(`/api/conversations/${encodeURIComponent(cid)}/branch`,
        { method: "POST", body: { message_id: id } });
      if (epoch !== this.epoch) return;
      this.adopt(data);
      this.cancelEdit();
      this.render();
      const entry = this.path[i];
      announce(`Version ${entry.sibling_index + 1} of ${entry.sibling_count}.`);
      // Keep the keyboard where it was: on the same control of that message.
      const nav = this.log.querySelectorAll("article.msg")[i]?.nextElementSibling
        ?.querySelector(".versions");
      const wanted = nav?.querySelector(dir === "prev" ? ".version-prev" : ".version-next");
      const other = nav?.querySelector(dir === "prev" ? ".version-next" : ".version-prev");
      (wanted && !wanted.disabled ? wanted : other)?.focus();
    } catch (err) {
      this.showError(err.message, nextStep(err.message, err.status, err.code));
    }
  }

  /** Take the server's copy of the conversation (GET or …/branch answer). */
  adopt(data) {
    const { messages, path, ...summary } = data;
    this.conversation = summary;
    this.messages = messages;
    this.path = path || [];
  }

  /** The stored ids of what is shown, read fresh (a reply may have been
   * saved since the page last looked); null without a stored conversation. */
  async storedPath() {
    if (!this.conversation) return null;
    const data = await api(`/api/conversations/${encodeURIComponent(this.conversation.id)}`);
    return data.path || [];
  }

  renderActions() {
    for (const old of this.log.querySelectorAll(".msg-actions")) old.remove();
    if (this.streaming || this.messages.length === 0) return;
    const userAt = lastUserIndex(this.messages);
    if (userAt < 0) return;
    const buttons = [];
    // A fresh error box already offers Retry; don't offer it twice.
    const tail = this.log.lastElementChild;
    const lastArticle = [...this.log.querySelectorAll("article.msg")].pop();
    const errorHasRetry = (tail?.classList.contains("error") && tail.querySelector("button.retry"))
      || lastArticle?.querySelector(":scope > .error button.retry");
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

  /** Send a user message (`content`: a string, or text and image blocks).
   * `parentId`: the stored message it follows (undefined: the one shown last;
   * null: it is a new first message). */
  async send(content, parentId) {
    const user = { role: "user", content, timestamp: Date.now() };
    let parent = parentId;
    if (parent === undefined && this.path.length === this.messages.length) {
      parent = this.path.length ? this.path[this.path.length - 1].id : null;
    }
    this.messages.push(user);
    this.path = [];
    this.log.querySelector(".empty")?.remove();
    for (const old of this.log.querySelectorAll(".msg-actions")) old.remove();
    this.log.append(renderMessage(user));
    this.stick = true;
    this.scroll();
    await this.runTurn(parent === undefined ? {} : { parent_id: parent });
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
      const at = lastUserIndex(this.messages);
      const stored = at < 0 ? null : await this.storedPath();
      if (stored && stored[at]) {
        // A new answer to the same stored message, beside the earlier ones.
        this.messages = this.messages.slice(0, at + 1);
        this.path = [];
        this.render();
        for (const old of this.log.querySelectorAll(".msg-actions")) old.remove();
        await this.runTurn({ regenerate: stored[at].id });
        return;
      }
      const user = await this.dropFromLastUser();
      if (!user) return;
      this.render();
      await this.send(user.content); // the same message, images included
    } catch (err) {
      this.showError(err.message, nextStep(err.message, err.status, err.code));
    }
  }

  beginEdit(index) {
    const at = index ?? lastUserIndex(this.messages);
    if (at < 0 || this.streaming) return;
    this.editing = true;
    this.editAt = at;
    this.input.value = textOf(this.messages[at]);
    this.editNote.hidden = false;
    this.sendButton.textContent = "Resend";
    this.input.focus();
  }

  cancelEdit() {
    if (!this.editing) return;
    this.editing = false;
    this.editAt = -1;
    this.editNote.hidden = true;
    this.sendButton.textContent = "Send";
    this.input.value = "";
  }

  async resendEdited(text) {
    const at = this.editAt;
    this.cancelEdit();
    try {
      const stored = at < 0 ? null : await this.storedPath();
      if (stored && stored[at]) {
        // The edited message becomes a new version beside the original.
        const original = this.messages[at];
        const kept = Array.isArray(original.content)
          ? original.content.filter((b) => b.type === "image") : [];
        this.messages = this.messages.slice(0, at);
        this.path = stored.slice(0, at);
        this.render();
        await this.send(compose(text, [...kept, ...this.attachments.take()]),
          stored[at].parent_id);
        return;
      }
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
    this.decorate();
    this.sendButton.hidden = on;
    this.stopButton.hidden = !on;
    if (on) this.stopButton.focus({ preventScroll: true });
    else if (document.activeElement === this.stopButton || document.activeElement === document.body) {
      this.input.focus({ preventScroll: true });
    }
  }

  /** Stream one answer. `turn`: `{parent_id}` for the user message just
   * shown, or `{regenerate: id}` for a new answer to a stored message. */
  async runTurn(turn = {}) {
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
    // Its generation settings are the stored conversation's (the server
    // applies them); without a store they go with the request.
    let body;
    if (conversation && turn.regenerate) {
      body = { conversation_id: conversation.id, regenerate: turn.regenerate };
    } else if (conversation) {
      body = { conversation_id: conversation.id, message: this.messages[this.messages.length - 1],
        ...("parent_id" in turn ? { parent_id: turn.parent_id } : {}) };
    } else {
      body = { messages: toOpenAI(this.messages), ...this.settings() };
    }
    const model = this.app.model();
    const connection = this.app.connectionId();
    if (model) body.model = model;
    if (connection) body.connection = connection;
    if (this.systemPrompt.value.trim()) body.system = this.systemPrompt.value;

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
    this.decorate();
    let stopped = null;
    if (outcome.stop === "aborted") {
      stopped = h("p", { class: "note", text: "Stopping…" });
      live.el.append(stopped);
      announce("Stopped.");
    } else if (outcome.stop === "error") {
      const box = this.showError(outcome.message,
        nextStep(outcome.message, outcome.status, outcome.code), { retry: true });
      // Nothing arrived: the error stands where the answer would have been
      // (no empty "Assistant" box above it). Partial text stays, then the error.
      if (!live.parts.length) {
        live.el.classList.add("failed");
        live.el.replaceChildren(box);
      }
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
    if (stopped) await this.showStoredStop(message, live.el, stopped);
    await this.syncFromServer();
    this.app.sidebar.refresh();
  }

  /** After Stop, show exactly the answer the server stored.
   *
   * The server keeps every word it had received from the backend when it
   * noticed the page leave; some of those were still on their way to the
   * page (in the server's buffers, the network, the browser's), so the page
   * has fewer. Only the stored copy is the same everywhere (a reload, another
   * browser, the next turn's history), so the page waits for it (the server
   * saves it within milliseconds of the disconnect) and shows it in place
   * of its own. Without a store, or when the reader moved on meanwhile,
   * the page keeps what it has. */
  async showStoredStop(message, el, note) {
    const done = () => { note.textContent = "Stopped — the partial answer is kept."; };
    const epoch = this.epoch;
    const id = this.conversation?.id;
    const current = () => epoch === this.epoch && this.messages[this.messages.length - 1] === message;
    const deadline = Date.now() + STOP_SAVE_WAIT_MS;
    while (id && current() && Date.now() < deadline) {
      let data = null;
      try {
        data = await api(`/api/conversations/${encodeURIComponent(id)}`);
      } catch {
        break;
      }
      const last = data.messages[data.messages.length - 1];
      if (!current()) return;
      if (data.messages.length === this.messages.length && last?.role === "assistant"
          && last.stopReason === "aborted") {
        this.adopt(data);
        el.replaceWith(renderMessage(last)); // carries its own "Stopped" note
        this.decorate();
        this.renderActions();
        this.scroll();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    done();
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
    const id = this.conversation.id;
    try {
      // The server saves the reply as its stream ends, which can be a moment
      // after the page read the end: while the stored copy lacks it, ask again
      // (briefly), so version switches and Edit appear without a reload.
      let data = await api(`/api/conversations/${encodeURIComponent(id)}`);
      for (let i = 0; i < 40 && epoch === this.epoch
          && data.messages.length === this.messages.length - 1; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        data = await api(`/api/conversations/${encodeURIComponent(id)}`);
      }
      if (epoch !== this.epoch) return; // another conversation is shown now
      const { messages, path, ...summary } = data;
      this.conversation = summary;
      if (messages.length === this.messages.length) {
        this.messages = messages;
        this.path = path || [];
        this.decorate(); // now with its version switches
      }
    } catch {
      // The page keeps working from its own copy.
    }
  }
}
