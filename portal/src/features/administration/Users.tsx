/**
 * End users (Administrator): search and sort by first name, last name, email, role and
 * mother tongue; create, edit, deactivate or activate, delete. Competences, channels and
 * spoken languages belong to those who handle conversations (Admin, Manager, Agent): the
 * form hides them for an Analyst, as the API refuses them.
 */
import { useState, type FormEvent } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../../api/client";
import type { components } from "../../api/schema/conversation";
import { Failed, Field, FormError, Loading, useLanguageName } from "../../components";
import { useSession } from "../../app/session";
import { useChannels, useCompetences } from "../history/lookups";
import { Pager, SortHeader } from "../history/ui";
import { formErrors, NO_ERRORS } from "../history/errors";
import { useGeneralSettings } from "./Settings";

type User = components["schemas"]["EndUserOut"];
type Role = User["role"];
type SortField = "first_name" | "last_name" | "email" | "role" | "mother_tongue";
type Sort = SortField | `-${SortField}`;
const ROLES: Role[] = ["administrator", "manager", "agent", "analyst"];
const LIMIT = 25;

export function Users() {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const { data: session } = useSession();
  const languageName = useLanguageName();
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  const [role, setRole] = useState<"" | Role>("");
  const [sort, setSort] = useState<Sort>("last_name");
  const [offset, setOffset] = useState(0);
  const [editing, setEditing] = useState<User | "new" | null>(null);
  const users = useQuery({
    queryKey: ["users", q, role, sort, offset],
    queryFn: () =>
      unwrap(
        api.GET("/v1/users", {
          params: { query: { q: q || undefined, role: role || undefined, sort, offset, limit: LIMIT } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ["users"] });
    void client.invalidateQueries({ queryKey: ["lookup", "people"] });
  };
  const action = useMutation({
    mutationFn: async ({ user, what }: { user: User; what: "deactivate" | "activate" | "delete" }) => {
      const path = { user_id: user.user_id };
      if (what === "delete") return unwrap(api.DELETE("/v1/users/{user_id}", { params: { path } }));
      if (what === "deactivate") return unwrap(api.POST("/v1/users/{user_id}/deactivation", { params: { path } }));
      return unwrap(api.POST("/v1/users/{user_id}/activation", { params: { path } }));
    },
    onSuccess: refresh,
  });
  const header = (field: string, label: string) => (
    <SortHeader label={label} field={field} sort={sort} onSort={(s) => setSort(s as Sort)} />
  );
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">{t("users.title")}</h2>
      <form
        role="search"
        className="toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          setOffset(0);
          setQ(typed.trim());
        }}
      >
        <Field label={t("users.search")}>
          <input type="search" value={typed} onChange={(e) => setTyped(e.target.value)} />
        </Field>
        <Field label={t("users.role")}>
          <select
            value={role}
            onChange={(e) => {
              setOffset(0);
              setRole(e.target.value as "" | Role);
            }}
          >
            <option value="">{t("any")}</option>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(`roles.${r}`)}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit">{t("search")}</button>
        <button type="button" className="secondary" onClick={() => setEditing("new")}>
          {t("users.new")}
        </button>
      </form>
      {editing && (
        <UserForm
          key={editing === "new" ? "new" : editing.user_id}
          user={editing === "new" ? undefined : editing}
          onDone={() => {
            setEditing(null);
            refresh();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      <FormError message={action.error ? formErrors(action.error).form ?? action.error.message : undefined} />
      {users.isPending ? (
        <Loading />
      ) : users.error ? (
        <Failed error={users.error} retry={() => void users.refetch()} />
      ) : (
        <>
          <table className="data">
            <caption>{t("users.count", { count: users.data.total })}</caption>
            <thead>
              <tr>
                {header("first_name", t("users.firstName"))}
                {header("last_name", t("users.lastName"))}
                {header("email", t("users.email"))}
                {header("role", t("users.role"))}
                {header("mother_tongue", t("users.motherTongue"))}
                <th scope="col">{t("users.state")}</th>
                <th scope="col">{t("actions")}</th>
              </tr>
            </thead>
            <tbody>
              {users.data.items.map((user) => {
                const who = `${user.first_name} ${user.last_name}`;
                const self = user.user_id === session?.user_id;
                return (
                  <tr key={user.user_id}>
                    <td>{user.first_name}</td>
                    <td>{user.last_name}</td>
                    <td>{user.email}</td>
                    <td>{t(`roles.${user.role}`)}</td>
                    <td>{languageName(user.mother_tongue)}</td>
                    <td>{user.active ? t("users.active") : t("users.inactive")}</td>
                    <td>
<div className="actions">
                      <button type="button" className="secondary" aria-label={t("editOne", { name: who })} onClick={() => setEditing(user)}>
                        {t("edit")}
                      </button>
                      {!self && (
                        <button
                          type="button"
                          className="secondary"
                          aria-label={t(user.active ? "users.deactivateOne" : "users.activateOne", { name: who })}
                          onClick={() => action.mutate({ user, what: user.active ? "deactivate" : "activate" })}
                        >
                          {user.active ? t("users.deactivate") : t("users.activate")}
                        </button>
                      )}
                      {!self && (
                        <button
                          type="button"
                          className="danger"
                          aria-label={t("deleteOne", { name: who })}
                          onClick={() => {
                            if (window.confirm(t("users.confirmDelete", { name: who }))) action.mutate({ user, what: "delete" });
                          }}
                        >
                          {t("delete")}
                        </button>
                      )}
                    </div>
</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <Pager offset={offset} limit={LIMIT} total={users.data.total} onChange={setOffset} />
        </>
      )}
    </section>
  );
}

interface Draft {
  first_name: string;
  last_name: string;
  email: string;
  role: Role;
  mother_tongue: string;
  languages: string[];
  channel_ids: string[];
  competences: string[];
  capacity: string;
  password: string;
}

function draftOf(user?: User): Draft {
  return {
    first_name: user?.first_name ?? "",
    last_name: user?.last_name ?? "",
    email: user?.email ?? "",
    role: user?.role ?? "agent",
    mother_tongue: user?.mother_tongue ?? "nl",
    languages: user?.languages ?? [],
    channel_ids: user?.channel_ids ?? [],
    competences: user?.competences ?? [],
    capacity: user?.capacity == null ? "" : String(user.capacity),
    password: "",
  };
}

export function UserForm({ user, onDone, onCancel }: { user?: User; onDone: () => void; onCancel: () => void }) {
  const { t } = useTranslation("administration");
  const [draft, setDraft] = useState<Draft>(() => draftOf(user));
  const settings = useGeneralSettings();
  const channels = useChannels();
  const competences = useCompetences();
  const handles = draft.role !== "analyst";
  const save = useMutation({
    mutationFn: async () => {
      const skills = handles
        ? {
            languages: draft.languages,
            channel_ids: draft.channel_ids,
            competences: draft.competences,
            capacity: draft.capacity.trim() ? Number(draft.capacity) : null,
          }
        : { languages: [], channel_ids: [], competences: [] };
      const profile = {
        first_name: draft.first_name,
        last_name: draft.last_name,
        email: draft.email,
        role: draft.role,
        mother_tongue: draft.mother_tongue,
      };
      if (user) {
        return unwrap(api.PATCH("/v1/users/{user_id}", { params: { path: { user_id: user.user_id } }, body: { ...profile, ...skills } }));
      }
      return unwrap(api.POST("/v1/users", { body: { ...profile, ...skills, password: draft.password || null } }));
    },
    onSuccess: onDone,
  });
  const { fields, form } = save.error ? formErrors(save.error) : NO_ERRORS;
  const set = (key: keyof Draft) => (event: { target: { value: string } }) =>
    setDraft((current) => ({ ...current, [key]: event.target.value }));
  const toggle = (key: "languages" | "channel_ids" | "competences", value: string) =>
    setDraft((current) => ({
      ...current,
      [key]: current[key].includes(value) ? current[key].filter((v) => v !== value) : [...current[key], value],
    }));
  const offered = settings.data?.languages ?? ["nl", "fr", "en"];
  const languageName = useLanguageName();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const title = user ? t("users.editTitle", { name: `${user.first_name} ${user.last_name}` }) : t("users.newTitle");
  return (
    <form className="panel" onSubmit={submit} aria-label={title} noValidate>
      <h3>{title}</h3>
      <div className="filters">
        <Field label={t("users.firstName")} error={fields.first_name}>
          <input value={draft.first_name} onChange={set("first_name")} autoComplete="off" />
        </Field>
        <Field label={t("users.lastName")} error={fields.last_name}>
          <input value={draft.last_name} onChange={set("last_name")} autoComplete="off" />
        </Field>
        <Field label={t("users.email")} error={fields.email}>
          <input type="email" value={draft.email} onChange={set("email")} autoComplete="off" />
        </Field>
        <Field label={t("users.role")} error={fields.role}>
          <select value={draft.role} onChange={set("role")}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(`roles.${r}`)}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t("users.motherTongue")} error={fields.mother_tongue}>
          <select value={draft.mother_tongue} onChange={set("mother_tongue")}>
            {Array.from(new Set([...offered, draft.mother_tongue])).map((language) => (
              <option key={language} value={language}>
                {languageName(language)}
              </option>
            ))}
          </select>
        </Field>
        {handles && (
          <Field label={t("users.capacity")} error={fields.capacity} hint={t("users.capacityHint")}>
            <input type="number" min={1} value={draft.capacity} onChange={set("capacity")} />
          </Field>
        )}
        {!user && (
          <Field label={t("users.password")} error={fields.password} hint={t("users.passwordHint")}>
            <input type="password" value={draft.password} onChange={set("password")} autoComplete="new-password" />
          </Field>
        )}
      </div>
      {handles && (
        <>
          <Checks
            legend={t("users.languages")}
            error={fields.languages}
            options={offered.map((language) => [language, languageName(language)])}
            chosen={draft.languages}
            onToggle={(v) => toggle("languages", v)}
          />
          <Checks
            legend={t("users.channels")}
            error={fields.channel_ids}
            options={(channels.data ?? []).map((channel) => [channel.channel_id, channel.name])}
            chosen={draft.channel_ids}
            onToggle={(v) => toggle("channel_ids", v)}
          />
          <Checks
            legend={t("users.competences")}
            error={fields.competences}
            options={(competences.data ?? []).map((competence) => [competence.id, competence.name])}
            chosen={draft.competences}
            onToggle={(v) => toggle("competences", v)}
          />
        </>
      )}
      <FormError message={form} />
      <div className="actions">
        <button type="submit" disabled={save.isPending}>
          {t("save")}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          {t("cancel")}
        </button>
      </div>
    </form>
  );
}

export function Checks({
  legend,
  options,
  chosen,
  onToggle,
  error,
}: {
  legend: string;
  options: [string, string][];
  chosen: string[];
  onToggle: (value: string) => void;
  error?: string;
}) {
  const errorId = `checks-${legend.replace(/\W+/g, "-")}-error`;
  return (
    <fieldset className="checks" aria-describedby={error ? errorId : undefined}>
      <legend>{legend}</legend>
      {options.map(([value, label]) => (
        <label key={value}>
          <input type="checkbox" checked={chosen.includes(value)} onChange={() => onToggle(value)} />
          {label}
        </label>
      ))}
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}
