// Copying to the clipboard, with a fallback for browsers or contexts without the async API.

/**
 * Copies text; returns whether it worked. The fallback selects `field` (which must hold the
 * same text, as the page shows it) and uses the older copy command.
 */
export async function copyText(text: string, field: HTMLInputElement | HTMLTextAreaElement): Promise<boolean> {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission refused or document not focused: fall through to the old way.
    }
  }

  field.focus();
  field.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

/** The status line after a copy attempt. */
export function copyOutcome(copied: boolean): string {
  return copied
    ? "Copied to the clipboard."
    : "Could not copy automatically: the text is selected, press Ctrl+C (or ⌘C) to copy it.";
}
