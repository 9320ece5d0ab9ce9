// A list row or a status item that acts when clicked acts from the keyboard too: a button
// role, in the tab order, Enter and Space.

export function activate(element: HTMLElement, action: () => void): void {
  element.setAttribute("role", "button");
  element.tabIndex = 0;
  element.onclick = action;
  element.onkeydown = (event: KeyboardEvent) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    action();
  };
}
