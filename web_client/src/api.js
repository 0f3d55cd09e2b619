// Small JSON client for the platform's REST API (same origin, cookie session).

export class ApiError extends Error {
  constructor(status, message, field = null, code = null) {
    super(message);
    this.status = status;
    this.field = field; // the body field a 400 names, if any
    this.code = code; // names the refusal, for a sentence in the person's language
  }
}

export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error || response.statusText, data.field ?? null, data.code ?? null);
  return data;
}

// Files as multipart/form-data, with upload progress (which fetch cannot report).
// Resolves with the JSON answer, or {error} when there is none. `fields` go first,
// before the files, so the server reads them before it reads any file.
export function uploadFiles(url, files, { field = "files", progress = null, fields = {} } = {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  for (const file of files) form.append(field, file, file.name);
  if (progress) {
    progress.hidden = false;
    progress.value = 0;
  }
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.addEventListener("progress", (e) => {
      if (progress && e.lengthComputable) progress.value = (100 * e.loaded) / e.total;
    });
    xhr.addEventListener("loadend", () => {
      if (progress) progress.hidden = true;
      try {
        resolve(JSON.parse(xhr.responseText));
      } catch {
        resolve({ error: xhr.statusText || "upload failed" });
      }
    });
    xhr.send(form);
  });
}
