// Generation settings: temperature, max tokens, top_p, stop sequences and
// reasoning effort. The same fields serve a conversation (the chat view's
// "Generation settings" panel, saved with the conversation) and a connection
// (Settings → the connection form: the defaults a new conversation starts
// with). The server checks every value and answers a 400 naming the field;
// the message is shown beside the fields, and the field is marked invalid.

import { h, field } from "./dom.js";

export const REASONING = [
  ["", "Default"], ["off", "Off"], ["minimal", "Minimal"], ["low", "Low"],
  ["medium", "Medium"], ["high", "High"], ["xhigh", "Extra high"],
];

/** A number from an input: "" is unset (null); anything else is sent as it
 * is typed, so the server's message names what is wrong with it. */
function numberOf(input) {
  const raw = input.value.trim();
  if (raw === "") return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

export class GenerationFields {
  /** `reasoning`: include the reasoning effort select (the chat view has its
   * own in the header, which the view binds to the same setting). */
  constructor({ reasoning = true } = {}) {
    const num = (attrs) => h("input", { type: "text", inputmode: "decimal", autocomplete: "off",
      spellcheck: "false", ...attrs });
    this.inputs = {
      temperature: num({ placeholder: "upstream default", "data-key": "temperature" }),
      max_tokens: num({ inputmode: "numeric", placeholder: "upstream default", "data-key": "max_tokens" }),
      top_p: num({ placeholder: "upstream default", "data-key": "top_p" }),
      stop: h("textarea", { rows: "2", placeholder: "one per line", "data-key": "stop" }),
    };
    if (reasoning) {
      this.inputs.reasoning = h("select", { "data-key": "reasoning" },
        REASONING.map(([value, text]) => h("option", { value, text })));
    }
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    this.el = h("div", { class: "generation-fields" },
      field("Temperature", this.inputs.temperature, "0 to 2; lower is more focused."),
      field("Max tokens", this.inputs.max_tokens, "The longest answer, in tokens."),
      field("Top p", this.inputs.top_p, "0 to 1; nucleus sampling."),
      field("Stop sequences", this.inputs.stop, "Up to 4, one per line."),
      reasoning ? field("Reasoning effort", this.inputs.reasoning) : null,
      this.error);
  }

  set(settings = {}) {
    const s = settings || {};
    for (const key of ["temperature", "max_tokens", "top_p"]) {
      this.inputs[key].value = s[key] ?? "";
    }
    this.inputs.stop.value = (s.stop || []).join("\n");
    if (this.inputs.reasoning) this.inputs.reasoning.value = s.reasoning || "";
    this.clearError();
  }

  /** The settings as typed (unset ones left out). */
  value() {
    const out = {};
    for (const key of ["temperature", "max_tokens", "top_p"]) {
      const v = numberOf(this.inputs[key]);
      if (v !== null) out[key] = v;
    }
    const stop = this.inputs.stop.value.split("\n").filter((line) => line !== "");
    if (stop.length) out.stop = stop;
    if (this.inputs.reasoning?.value) out.reasoning = this.inputs.reasoning.value;
    return out;
  }

  onChange(listener) {
    for (const input of Object.values(this.inputs)) input.addEventListener("change", listener);
  }

  /** Show the server's refusal; mark the field it names (param
   * `settings.temperature` / `generation.top_p`, or named in the message). */
  showError(err) {
    this.clearError();
    this.error.textContent = `Not saved: ${err.message}`;
    this.error.hidden = false;
    const text = `${err.param || ""} ${err.message}`;
    for (const [key, input] of Object.entries(this.inputs)) {
      if (new RegExp(`\\.${key}\\b`).test(text)) input.setAttribute("aria-invalid", "true");
    }
  }

  clearError() {
    this.error.hidden = true;
    this.error.textContent = "";
    for (const input of Object.values(this.inputs)) input.removeAttribute("aria-invalid");
  }
}
