// Small JSON client for the platform's REST API (same origin, cookie session).

import { t } from "./i18n.js";
import { UploadRefused, fileUploads, maxSize, sendResumable } from "./resumable.js";

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

// Files sent resumably (tus, see resumable.js), then filed by `url` (the imaging or
// attachments route) by naming the completed uploads: same verdicts as a multipart
// body. `progress` (a <progress>) shows the bytes; a status line beside it says when
// the link is down and the upload will resume. `fields.confirm_patient = "yes"` files
// objects of another patient as the uploader's decision. Resolves with the route's
// answer ({results, accepted, refused, held}), with {error} when it stopped early.
const BATCH_FILES = 20; // uploads held on the server at once, well under its limit

export async function uploadFiles(url, files, { progress = null, fields = {} } = {}) {
  files = Array.from(files);
  const confirm = fields.confirm_patient === "yes";
  const total = files.reduce((n, f) => n + f.size, 0) || 1;
  const line = statusLine(progress);
  let done = 0;
  const show = (state) => {
    if (line) line.textContent = state ? t(`upload.state.${state}`) : "";
    if (line) line.dataset.state = state ?? "";
  };
  if (progress) {
    progress.hidden = false;
    progress.value = 0;
  }
  const results = [];
  let error = null;
  try {
    const limit = (await maxSize()) ?? Infinity;
    for (const batch of batches(files, limit)) {
      const ids = [];
      for (const file of batch) {
        try {
          ids.push(await sendResumable(file, {
            onProgress: (sent) => progress && (progress.value = (100 * (done + sent)) / total),
            onState: show,
          }));
        } catch (err) {
          if (!(err instanceof UploadRefused)) throw err;
          // refused before any byte was kept (too large, over the quota): the file's verdict
          results.push({ file: file.name, status: "refused", code: err.code === "too_large" ? "too_large" : null, reason: err.message });
        }
        done += file.size;
      }
      if (!ids.length) continue;
      show("filing");
      const body = await fileUploads(url, ids, { confirm, onState: show });
      if (!body.results) {
        error = body.error ?? t("upload.failed");
        break;
      }
      results.push(...body.results);
    }
  } catch (err) {
    error = err.message || t("upload.failed");
  } finally {
    if (progress) progress.hidden = true;
    show(error ? "failed" : null);
  }
  const counts = Object.fromEntries(["accepted", "refused", "held"].map((s) => [s, results.filter((r) => r.status === s).length]));
  return { results, ...counts, ...(error ? { error } : {}) };
}

// Held uploads confirmed by the uploader: filed again with confirm_patient.
export function confirmUploads(url, ids) {
  return fileUploads(url, ids, { confirm: true });
}

function* batches(files, limit) {
  let batch = [];
  let bytes = 0;
  for (const file of files) {
    if (batch.length && (batch.length >= BATCH_FILES || bytes + file.size > limit)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(file);
    bytes += file.size;
  }
  if (batch.length) yield batch;
}

// The status line beside a progress bar (made on first use).
function statusLine(progress) {
  if (!progress) return null;
  const next = progress.nextElementSibling;
  if (next?.classList.contains("upload-state")) return next;
  const line = document.createElement("span");
  line.className = "upload-state";
  line.setAttribute("role", "status");
  progress.after(line);
  return line;
}
