// The line under an answer with what it used: tokens in (of which cached),
// tokens out, and the cost when the model's price is known.
//
// Two sources, one look:
// | source                                   | tokens in           | cached                      | cost                |
// |------------------------------------------|---------------------|-----------------------------|---------------------|
// | /api/chat's last chunk (OpenAI `usage`)  | prompt_tokens       | prompt_tokens_details.      | cost.total          |
// |                                          |                     | cached_tokens               |                     |
// | a stored message (`usage`, message JSON) | input + cacheRead + | cacheRead                   | cost.total          |
// |                                          | cacheWrite          |                             |                     |
// The server prices usage from the model catalog and reports 0 for a model
// it has no price for; 0 is therefore shown as no cost at all, never "$0.00".

import { h } from "./dom.js";

const count = new Intl.NumberFormat("en-US");

function num(value) {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0;
}

/** OpenAI-shaped usage (the live stream) → {input, output, cached, cost}. */
export function fromChunk(usage) {
  const u = usage || {};
  return {
    input: num(u.prompt_tokens),
    output: num(u.completion_tokens),
    cached: num(u.prompt_tokens_details?.cached_tokens),
    cost: u.cost ? {
      input: num(u.cost.input), output: num(u.cost.output), cacheRead: num(u.cost.cache_read),
      cacheWrite: num(u.cost.cache_write), total: num(u.cost.total),
    } : null,
  };
}

/** A stored message's usage → {input, output, cached, cost}. */
export function fromStored(usage) {
  const u = usage || {};
  return {
    input: num(u.input) + num(u.cacheRead) + num(u.cacheWrite),
    output: num(u.output),
    cached: num(u.cacheRead),
    cost: u.cost ? { ...u.cost, total: num(u.cost.total) } : null,
  };
}

/** The same usage as message JSON (what the page keeps until it reads the
 * server's copy). */
export function toStored(usage) {
  const cost = usage.cost || {};
  return {
    input: usage.input - usage.cached,
    output: usage.output,
    cacheRead: usage.cached,
    cacheWrite: 0,
    totalTokens: usage.input + usage.output,
    cost: {
      input: num(cost.input), output: num(cost.output), cacheRead: num(cost.cacheRead),
      cacheWrite: num(cost.cacheWrite), total: num(cost.total),
    },
  };
}

/** US dollars with as many decimals as a small amount needs ($0.0031, $1.20). */
export function dollars(amount) {
  if (amount > 0 && amount < 0.000001) return "under $0.000001";
  const digits = amount >= 1 ? 2 : amount >= 0.01 ? 4 : 6;
  const text = amount.toFixed(digits).replace(/(\.\d\d\d*?)0+$/, "$1");
  return `$${text}`;
}

/** The line's element, or null when the upstream reported no usage. */
export function usageLine(usage) {
  if (!usage || (!usage.input && !usage.output)) return null;
  const parts = [`${count.format(usage.input)} in`];
  if (usage.cached) parts.push(`${count.format(usage.cached)} cached`);
  parts.push(`${count.format(usage.output)} out`);
  const el = h("p", { class: "usage" }, h("span", { class: "tokens", text: `Tokens: ${parts.join(" · ")}` }));
  const total = usage.cost ? num(usage.cost.total) : 0;
  if (total > 0) {
    const c = usage.cost;
    const split = [["input", c.input], ["output", c.output], ["cache read", c.cacheRead],
      ["cache write", c.cacheWrite]].filter(([, v]) => num(v) > 0)
      .map(([name, v]) => `${name} ${dollars(v)}`).join(", ");
    el.append(" · ", h("span", { class: "cost", title: split, text: `Cost ${dollars(total)}` }));
  }
  return el;
}
