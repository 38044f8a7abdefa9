// Small helpers for reaching the elements that index.html declares.

/** Returns the element with this id, or throws: a missing element is a bug in index.html. */
export function byId<T extends HTMLElement>(id: string, kind: { new (): T }): T {
  const element = document.getElementById(id);
  if (!(element instanceof kind)) {
    throw new Error(`index.html has no <${kind.name}> with id "${id}"`);
  }
  return element;
}

/** Shows a message in a notice element, or hides the element when the message is empty. */
export function showNotice(element: HTMLElement, message: string): void {
  element.textContent = message;
  element.hidden = message === "";
}
