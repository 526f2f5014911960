// The REST API: one JSON fetch that turns server errors into readable Errors, and the
// fetch that follows the server's job while a result (an embedding, block importance)
// is computed.

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The readable message of an error body: FastAPI's `detail` is a string or a list. */
function detailMessage(body, response) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body" && part !== "query");
        return where.length ? `${where.join(".")}: ${item.msg}` : item.msg;
      })
      .join("; ");
  }
  return `${response.status} ${response.statusText || "error"} from ${new URL(response.url).pathname}`;
}

/** GET/POST `url`; resolves to {status, body}; throws an ApiError carrying `detail`. */
export async function requestJSON(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, ...options });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`The server cannot be reached (${error.message}).`, 0);
  }
  const text = await response.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) throw new ApiError(detailMessage(body, response), response.status);
  if (body === null) {
    throw new ApiError(`The server sent no JSON for ${new URL(response.url).pathname}.`, 500);
  }
  return { status: response.status, body };
}

/** The JSON body of `url`; throws an ApiError with the server's `detail` on 4xx/5xx. */
export async function fetchJSON(url, options = {}) {
  return (await requestJSON(url, options)).body;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    });
  });
}

const model = (id) => `/api/models/${encodeURIComponent(id)}`;

export const getHealth = () => fetchJSON("/api/health");
export const getModels = () => fetchJSON("/api/models");
export const getMeasures = () => fetchJSON("/api/measures");
export const getGroups = () => fetchJSON("/api/groups");
export const getPaths = (id, split = "test") => fetchJSON(`${model(id)}/paths?split=${split}`);
export const getMetrics = (id, split = "test") => fetchJSON(`${model(id)}/metrics?split=${split}`);
export const getTraining = (id) => fetchJSON(`${model(id)}/training`);

/**
 * A result the server may compute first: while it does (202 + job), polls the job and
 * reports {status, progress} through `onProgress`, then fetches the result.
 */
async function getComputed(url, what, { onProgress = null, signal = null, pollMs = 350 } = {}) {
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const { status, body } = await requestJSON(url, { signal });
    if (status === 200) return body;
    let job = body;
    onProgress?.(job);
    while (job.status === "queued" || job.status === "running") {
      await sleep(pollMs, signal);
      job = await fetchJSON(`/api/jobs/${encodeURIComponent(job.job_id)}`, { signal });
      onProgress?.(job);
    }
    if (job.status === "failed") {
      throw new ApiError(job.error || `computing the ${what} failed`, 500);
    }
  }
  throw new ApiError(`the ${what} was not ready after its job finished`, 500);
}

/** The 2-D embedding of a model's paths (computed by a job the first time). */
export function getEmbedding(id, method, { split = "test", ...options } = {}) {
  const url = `${model(id)}/embeddings/${encodeURIComponent(method)}?split=${split}`;
  return getComputed(url, `${method} embedding`, options);
}

/** Per class and block: accuracy and confidence with the block flipped (a job the first time). */
export function getImportance(id, { split = "test", ...options } = {}) {
  return getComputed(`${model(id)}/importance?split=${split}`, "block importance", options);
}

/** How a run's routing space formed over its recorded epochs, laid out by `method`
 * (a job the first time); a 404 says the run's paths were not recorded. */
export function getFormation(id, method, options = {}) {
  const url = `${model(id)}/formation?method=${encodeURIComponent(method)}`;
  return getComputed(url, `${method} formation`, options);
}

/** The `split` images whose paths are nearest to `path`, by the server's neighbour rule
 * (an upload's neighbours follow it too): with `otherPaths`, none on `path` itself; never
 * sample `leaveOut`. */
export function getNeighbors(id, path, split = "test", { otherPaths = false, leaveOut = null } = {}) {
  const params = new URLSearchParams({ path, split, other_paths: String(otherPaths) });
  if (leaveOut !== null) params.set("leave_out", String(leaveOut));
  return fetchJSON(`${model(id)}/neighbors?${params}`);
}

/**
 * Route an uploaded image through a model, with `views` augmented views; with
 * `forcePath` (a string of 0/1, one per gated block) through that path instead. Its
 * nearest images and its place on the maps are among `split`'s.
 */
export function routeImage(id, file, views = 0, forcePath = null, split = "test") {
  const form = new FormData();
  form.append("file", file, file.name || "upload");
  if (forcePath !== null) form.append("force_path", forcePath);
  const params = new URLSearchParams({ views, split });
  return fetchJSON(`${model(id)}/route?${params}`, { method: "POST", body: form });
}

/** Route again an upload the server still holds (`uploadId` from its first answer), with
 * the same arguments as `routeImage`; a 404 says it is no longer held. */
export function routeHeldUpload(id, uploadId, views = 0, forcePath = null, split = "test") {
  const params = new URLSearchParams({ views, split });
  if (forcePath !== null) params.set("force_path", forcePath);
  return fetchJSON(`${model(id)}/uploads/${encodeURIComponent(uploadId)}/route?${params}`);
}

/** A dataset sample's routing: its own (with `views` augmented views), or through
 * `forcePath`. */
export function routeSample(id, sampleId, forcePath = null, split = "test", views = 0) {
  const params = new URLSearchParams({ split });
  if (forcePath !== null) params.set("force_path", forcePath);
  if (views) params.set("views", String(views));
  return fetchJSON(`${model(id)}/samples/${sampleId}/route?${params}`);
}
