// The one way the extension talks to the server: every REST call goes through requestAPI,
// under <base url>/alphapulse/api/, with Lab's own credentials (token header, XSRF cookie).
// A failed call throws an ApiError carrying the server's one-line reason, so a panel can
// say what went wrong instead of going blank.

import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";

export const API_ROOT = "alphapulse/api";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

let settings: ServerConnection.ISettings | null = null;

/** The server connection every call uses (Lab's, once the plugin has it). */
export function useServerSettings(value: ServerConnection.ISettings): void {
  settings = value;
}

function serverSettings(): ServerConnection.ISettings {
  settings ??= ServerConnection.makeSettings();
  return settings;
}

/** The server's base URL (an iframe's URL is built on it). */
export function serverBaseUrl(): string {
  return serverSettings().baseUrl;
}

/** The URL of an API path on this server (for a WebSocket too, with `ws`). */
export function apiUrl(path: string, ws = false): string {
  const s = serverSettings();
  return URLExt.join(ws ? s.wsUrl : s.baseUrl, API_ROOT, path);
}

/** The token Lab uses (empty when the page is authenticated by its cookie). */
export function apiToken(): string {
  return serverSettings().token;
}

/** Calls the API and returns its JSON (or its text with `as: "text"`). */
export async function requestAPI<T>(path: string, init: RequestInit = {}, as: "json" | "text" = "json"): Promise<T> {
  const s = serverSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(apiUrl(path), init, s);
  } catch (error) {
    throw new ApiError(0, `the Jupyter server did not answer (${String(error)})`);
  }
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, reasonOf(response, text));
  if (as === "text") return text as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, `GET ${path}: the answer is not JSON`);
  }
}

/** POSTs a JSON body. */
export function postAPI<T>(path: string, body: unknown = {}): Promise<T> {
  return requestAPI<T>(path, { method: "POST", body: JSON.stringify(body) });
}

/** The server's reason: jupyter_server's APIHandler answers {"message": ..., "reason": ...}. */
export function reasonOf(response: { status: number; statusText: string }, text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; reason?: unknown };
    for (const value of [body.message, body.reason]) {
      if (typeof value === "string" && value) return value;
    }
  } catch {
    // not JSON: fall through to the status line
  }
  if (response.status === 404) {
    return "the AlphaPulse server extension is not running on this Jupyter server (enable it: jupyter server extension enable alphapulse.server)";
  }
  return `${response.status} ${response.statusText}`.trim();
}
