/**
 * Where an administration form shows an API error. A 422 of the request's schema names the
 * field in `details[].loc` (`fieldErrors`); the administration endpoints' own refusals name
 * it by a key of `details` (`{"competences": [...]}`) or by their code (`email_taken`).
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
};

export interface FormErrors {
  fields: Record<string, string>;
  form?: string;
}

export const NO_ERRORS: FormErrors = { fields: {} };

export function formErrors(error: unknown): FormErrors {
  if (!error) return NO_ERRORS;
  const base = fieldErrors(error);
  if (!(error instanceof ApiError) || Object.keys(base.fields).length > 0) return base;
  const fields: Record<string, string> = {};
  const details = error.details;
  if (details && typeof details === "object" && !Array.isArray(details)) {
    for (const key of Object.keys(details)) {
      if (key !== "plans" && key !== "option") fields[key] = error.message;
    }
  }
  const named = CODE_FIELDS[error.code];
  if (named && Object.keys(fields).length === 0) fields[named] = error.message;
  return Object.keys(fields).length > 0 ? { fields } : base;
}
