/**
 * Where a form of these screens shows an API error. A 422 of the request's schema names the
 * field in `details[].loc` (`fieldErrors`; here also for query and path parameters, whose
 * `loc` starts with "query" or "path"); the endpoints' own refusals name it by a key of
 * `details` (`{"competences": [...]}`) or by their code (`email_taken`).
 */
import { ApiError, fieldErrors } from "../../api/client";

const CODE_FIELDS: Record<string, string> = {
  email_taken: "email",
  name_taken: "name",
  credentials_required: "external_id",
  credentials_not_used: "external_id",
  origins_not_used: "allowed_origins",
  skills_not_allowed: "role",
  language_not_offered: "languages",
  unknown_channel: "channel_ids",
  unknown_competence: "competences",
  unknown_user: "user_ids",
  bad_period: "from",
};

export interface FormErrors {
  fields: Record<string, string>;
  form?: string;
}

export const NO_ERRORS: FormErrors = { fields: {} };

function withoutPlace(error: unknown): unknown {
  if (!(error instanceof ApiError) || !Array.isArray(error.details)) return error;
  const details = (error.details as { loc?: unknown[] }[]).map((item) => ({
    ...item,
    loc: (item.loc ?? []).filter((part) => part !== "query" && part !== "path"),
  }));
  return new ApiError(error.status, error.code, error.message, details);
}

export function formErrors(error: unknown): FormErrors {
  if (!error) return NO_ERRORS;
  error = withoutPlace(error);
  const base = fieldErrors(error);
  if (!(error instanceof ApiError) || Object.keys(base.fields).length > 0) return base;
  const named = CODE_FIELDS[error.code];
  if (named) return { fields: { [named]: error.message } };
  const fields: Record<string, string> = {};
  const details = error.details;
  if (details && typeof details === "object" && !Array.isArray(details)) {
    for (const key of Object.keys(details)) {
      if (!["plans", "option", "unknown"].includes(key)) fields[key] = error.message;
    }
  }
  return Object.keys(fields).length > 0 ? { fields } : base;
}
