// The reveal view at "/s#<id>": explain, and only on a press of the button reveal the secret.
// Opening the link makes no call, so link previews and prefetchers cannot burn the secret.

import { Code } from "@connectrpc/connect";

import { describeError, errorCode, revealSecret } from "./api.js";
import { copyOutcome, copyText } from "./clipboard.js";
import { byId, showNotice } from "./dom.js";

const GONE_MESSAGE = "This secret does not exist, has expired, or has already been revealed.";
const BROKEN_LINK_MESSAGE =
  "This link is incomplete or damaged. Check that you copied the whole link, including the part after “#”.";

/** Ids are URL-safe base64; anything else cannot be a link this service made. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

// Bytes that are not UTF-8 are not shown as text (that would change them), but offered as a file.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function startRevealView(): void {
  const view = byId("reveal-view", HTMLElement);
  const intro = byId("reveal-intro", HTMLElement);
  const error = byId("reveal-error", HTMLElement);
  const button = byId("reveal-button", HTMLButtonElement);
  const revealed = byId("revealed", HTMLElement);
  const secretField = byId("secret", HTMLTextAreaElement);
  const copySecret = byId("copy-secret", HTMLButtonElement);
  const download = byId("download-secret", HTMLButtonElement);
  const hide = byId("hide-secret", HTMLButtonElement);
  const copyStatus = byId("copy-secret-status", HTMLElement);
  const hiddenNote = byId("hidden-note", HTMLElement);
  const gone = byId("reveal-gone", HTMLElement);

  // The exact secret, kept apart from the textarea, whose value turns CR LF into LF.
  let secretText: string | null = null;
  let secretBytes: Uint8Array | null = null;

  const id = location.hash.slice(1);
  view.hidden = false;
  if (!ID_PATTERN.test(id)) {
    intro.hidden = true;
    showNotice(gone, BROKEN_LINK_MESSAGE);
    return;
  }

  button.addEventListener("click", async () => {
    if (button.disabled) {
      return;
    }
    showNotice(error, "");
    button.disabled = true;
    button.textContent = "Revealing…";
    try {
      const bytes = await revealSecret(id);
      intro.hidden = true;
      showSecret(bytes);
    } catch (err) {
      const code = errorCode(err);
      if (code === Code.NotFound) {
        intro.hidden = true;
        showNotice(gone, GONE_MESSAGE);
      } else if (code === Code.InvalidArgument) {
        intro.hidden = true;
        showNotice(gone, BROKEN_LINK_MESSAGE);
      } else {
        showNotice(error, `Could not reveal the secret. ${describeError(err)}`);
      }
    } finally {
      button.disabled = false;
      button.textContent = "Reveal secret";
    }
  });

  function showSecret(bytes: Uint8Array): void {
    try {
      secretText = decoder.decode(bytes);
      secretField.value = secretText;
      secretField.hidden = false;
      copySecret.hidden = false;
      download.hidden = true;
    } catch {
      // Not text: keep the bytes for a download instead of showing a mangled version.
      secretBytes = bytes;
      secretField.value = "";
      secretField.hidden = true;
      copySecret.hidden = true;
      download.hidden = false;
      copyStatus.textContent = "This secret is not text, so it cannot be shown here: download it as a file.";
    }
    revealed.hidden = false;
    (secretField.hidden ? download : secretField).focus();
  }

  copySecret.addEventListener("click", async () => {
    if (secretText !== null) {
      copyStatus.textContent = copyOutcome(await copyText(secretText, secretField));
    }
  });

  download.addEventListener("click", () => {
    if (secretBytes === null) {
      return;
    }
    const url = URL.createObjectURL(new Blob([secretBytes.slice()], { type: "application/octet-stream" }));
    const anchor = document.createElement("a");
    anchor.href = url;
    anchor.download = "secret.bin";
    anchor.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  hide.addEventListener("click", () => {
    secretText = null;
    secretBytes?.fill(0);
    secretBytes = null;
    secretField.value = "";
    copyStatus.textContent = "";
    revealed.hidden = true;
    hiddenNote.hidden = false;
    hiddenNote.focus();
  });
}
