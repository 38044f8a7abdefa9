// The create view at "/": write a secret, choose how long it lives, get a one-time link.

import { MAX_SECRET_BYTES, createSecret, describeError } from "./api.js";
import { copyOutcome, copyText } from "./clipboard.js";
import { byId, showNotice } from "./dom.js";

const encoder = new TextEncoder();

export function startCreateView(): void {
  const view = byId("create-view", HTMLElement);
  const form = byId("create-form", HTMLFormElement);
  const content = byId("content", HTMLTextAreaElement);
  const size = byId("content-size", HTMLElement);
  const error = byId("create-error", HTMLElement);
  const button = byId("create-button", HTMLButtonElement);
  const created = byId("created", HTMLElement);
  const createdTitle = byId("created-title", HTMLElement);
  const link = byId("link", HTMLInputElement);
  const copyLink = byId("copy-link", HTMLButtonElement);
  const copyStatus = byId("copy-link-status", HTMLElement);
  const expiresAt = byId("expires-at", HTMLTimeElement);
  const createAnother = byId("create-another", HTMLButtonElement);

  view.hidden = false;

  content.addEventListener("input", () => {
    size.textContent = `${formatBytes(encoder.encode(content.value).length)} of 64 KiB`;
    showNotice(error, "");
    content.removeAttribute("aria-invalid");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) {
      return;
    }

    // The content goes out exactly as written: no trimming, no normalising.
    const bytes = encoder.encode(content.value);
    const problem = checkSize(bytes.length);
    if (problem !== "") {
      showNotice(error, problem);
      content.setAttribute("aria-invalid", "true");
      content.focus();
      return;
    }
    const ttlSeconds = Number(new FormData(form).get("ttl") ?? 86400);

    showNotice(error, "");
    button.disabled = true;
    button.textContent = "Creating…";
    try {
      const secret = await createSecret(bytes, ttlSeconds);
      link.value = `${location.origin}/s#${secret.id}`;
      showExpiry(expiresAt, secret.expiresAt);
      content.value = "";
      size.textContent = `${formatBytes(0)} of 64 KiB`;
      copyStatus.textContent = "";
      form.hidden = true;
      created.hidden = false;
      createdTitle.focus();
    } catch (err) {
      showNotice(error, `Could not create the secret. ${describeError(err)}`);
    } finally {
      button.disabled = false;
      button.textContent = "Create link";
    }
  });

  link.addEventListener("focus", () => link.select());

  copyLink.addEventListener("click", async () => {
    copyStatus.textContent = copyOutcome(await copyText(link.value, link));
  });

  createAnother.addEventListener("click", () => {
    link.value = "";
    expiresAt.textContent = "";
    copyStatus.textContent = "";
    created.hidden = true;
    form.hidden = false;
    content.focus();
  });
}

function checkSize(byteCount: number): string {
  if (byteCount === 0) {
    return "Write or paste a secret first: it is empty.";
  }
  if (byteCount > MAX_SECRET_BYTES) {
    return `The secret is too large: ${formatBytes(byteCount)}, and at most 64 KiB (65,536 bytes) can be shared.`;
  }
  return "";
}

function showExpiry(element: HTMLTimeElement, when: Date | undefined): void {
  if (when === undefined) {
    element.removeAttribute("datetime");
    element.textContent = "at the time you chose";
    return;
  }
  element.dateTime = when.toISOString();
  const formatted = new Intl.DateTimeFormat(undefined, {
    dateStyle: "full",
    timeStyle: "short",
  }).format(when);
  element.textContent = `on ${formatted}`;
}

function formatBytes(count: number): string {
  return `${count.toLocaleString("en")} ${count === 1 ? "byte" : "bytes"}`;
}
