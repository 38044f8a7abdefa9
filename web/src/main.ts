// Chooses the view from the path: "/s" (with the id in the fragment) reveals, anything else creates.

import { startCreateView } from "./create-view.js";
import { startRevealView } from "./reveal-view.js";

function isRevealPath(path: string): boolean {
  return path === "/s" || path === "/s/";
}

if (isRevealPath(location.pathname)) {
  startRevealView();
  // A different fragment is a different secret: start that one's view afresh.
  window.addEventListener("hashchange", () => location.reload());
} else {
  startCreateView();
}
