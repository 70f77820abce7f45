/**
 * Dispatch's two commands on one conversation. Each form keeps what was typed when the
 * request fails and shows the API's message next to the field it names.
 */
import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { ApiError, api, unwrap } from "../../api/client";
import type { components } from "../../api/schema/conversation";
import { Field, FormError } from "../../components";
import { formErrors } from "../history/errors";
import { useCompetences } from "../history/lookups";
import type { Conversation } from "../history/ui";

type Person = components["schemas"]["ColleagueOut"];

/** The API's refusals of a person name the person field. */
function errorsOf(error: unknown) {
  const { fields, form } = formErrors(error);
  if (error instanceof ApiError && Object.keys(fields).length === 0 && (error.status === 404 || error.code === "unknown_user" || error.code.startsWith("not_a"))) {
    return { fields: { user_id: error.message }, form: undefined };
  }
  return { fields, form };
}

export function AssignForm({
  conversationId,
  people,
  onDone,
}: {
  conversationId: string;
  people: Person[];
  onDone: () => void;
}) {
  const { t } = useTranslation("dispatch");
  const client = useQueryClient();
  const [userId, setUserId] = useState("");
  const assign = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/v1/dispatch/conversations/{conversation_id}/assign", {
          params: { path: { conversation_id: conversationId } },
          body: { user_id: userId },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["dispatch"] });
      void client.invalidateQueries({ queryKey: ["conversation", conversationId] });
      onDone();
    },
  });
  const { fields, form } = assign.error ? errorsOf(assign.error) : { fields: {} as Record<string, string>, form: undefined };
  const handlers = people.filter((person) => person.role !== "analyst");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    assign.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="assign-title">
      <h2 id="assign-title">{t("assignTitle")}</h2>
      <Field label={t("person")} error={fields.user_id}>
        <select value={userId} onChange={(e) => setUserId(e.target.value)} required>
          <option value="">{handlers.length > 0 ? t("choose") : t("nobody")}</option>
          {handlers.map((person) => (
            <option key={person.user_id} value={person.user_id}>
              {person.first_name} {person.last_name} ({t(`presence.${person.presence}`)})
            </option>
          ))}
        </select>
      </Field>
      <FormError message={form} />
      <button type="submit" disabled={assign.isPending}>
        {t("assign")}
      </button>
    </form>
  );
}

export function RequirementsForm({
  conversationId,
  current,
}: {
  conversationId: string;
  current?: Conversation;
}) {
  const { t } = useTranslation("dispatch");
  const client = useQueryClient();
  const competences = useCompetences();
  const [language, setLanguage] = useState(current?.language ?? "");
  const [chosen, setChosen] = useState<string[]>(current?.required_competences ?? []);
  const known = competences.data ?? [];
  const change = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT("/v1/dispatch/conversations/{conversation_id}/requirements", {
          params: { path: { conversation_id: conversationId } },
          body: {
            language: language.trim() || null,
            competences: chosen,
          },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["dispatch"] });
      void client.invalidateQueries({ queryKey: ["conversation", conversationId] });
    },
  });
  const { fields, form } = change.error ? errorsOf(change.error) : { fields: {} as Record<string, string>, form: undefined };
  const toggle = (id: string) =>
    setChosen((ids) => (ids.includes(id) ? ids.filter((n) => n !== id) : [...ids, id]));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="requirements-title">
      <h2 id="requirements-title">{t("requirementsTitle")}</h2>
      <Field label={t("language")} error={fields.language}>
        <input value={language} onChange={(e) => setLanguage(e.target.value)} />
      </Field>
      {known.length > 0 && (
        <fieldset className="checks" aria-describedby={fields.competences ? "requirements-competences-error" : undefined}>
          <legend>{t("competences")}</legend>
          {known.map((competence) => (
            <label key={competence.id}>
              <input
                type="checkbox"
                checked={chosen.includes(competence.id)}
                onChange={() => toggle(competence.id)}
              />
              {competence.name}
            </label>
          ))}
        </fieldset>
      )}
      {fields.competences && (
        <p id="requirements-competences-error" className="field-error" role="alert">
          {fields.competences}
        </p>
      )}
      <FormError message={form} />
      {change.isSuccess && (
        <p className="ok" role="status">
          {t("changed")}
        </p>
      )}
      <button type="submit" disabled={change.isPending}>
        {t("change")}
      </button>
    </form>
  );
}
