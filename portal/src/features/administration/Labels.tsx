/**
 * Competences and topics (Administrator): search and sort by name, create, rename, delete;
 * for a competence, who has it (only Admins, Managers and Agents may).
 */
import { useState, type FormEvent } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../../api/client";
import type { components } from "../../api/schema/conversation";
import { Failed, Field, FormError, Loading } from "../../components";
import { usePeople } from "../history/lookups";
import { Pager, SortHeader } from "../history/ui";
import { formErrors, NO_ERRORS } from "../history/errors";
import { Checks } from "./Users";

type Label = components["schemas"]["LabelOut"];
type Kind = "competences" | "topics";
const LIMIT = 25;

function list(kind: Kind, query: { q?: string; sort: "name" | "-name"; offset: number; limit: number }) {
  return kind === "competences"
    ? unwrap(api.GET("/v1/competences", { params: { query } }))
    : unwrap(api.GET("/v1/topics", { params: { query } }));
}

export function Labels({ kind }: { kind: Kind }) {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  const [sort, setSort] = useState<"name" | "-name">("name");
  const [offset, setOffset] = useState(0);
  const [editing, setEditing] = useState<Label | "new" | null>(null);
  const [people, setPeople] = useState<Label | null>(null);
  const labels = useQuery({
    queryKey: ["labels", kind, q, sort, offset],
    queryFn: () => list(kind, { q: q || undefined, sort, offset, limit: LIMIT }),
    placeholderData: keepPreviousData,
  });
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ["labels", kind] });
    void client.invalidateQueries({ queryKey: ["lookup", kind] });
  };
  const remove = useMutation({
    mutationFn: (label: Label) =>
      kind === "competences"
        ? unwrap(api.DELETE("/v1/competences/{label_id}", { params: { path: { label_id: label.id } } }))
        : unwrap(api.DELETE("/v1/topics/{label_id}", { params: { path: { label_id: label.id } } })),
    onSuccess: refresh,
  });
  return (
    <section aria-labelledby={`${kind}-title`}>
      <h2 id={`${kind}-title`}>{t(`${kind}.title`)}</h2>
      <form
        role="search"
        className="toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          setOffset(0);
          setQ(typed.trim());
        }}
      >
        <Field label={t(`${kind}.search`)}>
          <input type="search" value={typed} onChange={(e) => setTyped(e.target.value)} />
        </Field>
        <button type="submit">{t("search")}</button>
        <button type="button" className="secondary" onClick={() => setEditing("new")}>
          {t(`${kind}.new`)}
        </button>
      </form>
      {editing && (
        <LabelForm
          key={editing === "new" ? "new" : editing.id}
          kind={kind}
          label={editing === "new" ? undefined : editing}
          onDone={() => {
            setEditing(null);
            refresh();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      {people && <Holders key={people.id} label={people} onDone={() => setPeople(null)} />}
      <FormError message={remove.error ? remove.error.message : undefined} />
      {labels.isPending ? (
        <Loading />
      ) : labels.error ? (
        <Failed error={labels.error} retry={() => void labels.refetch()} />
      ) : (
        <>
          <table className="data">
            <caption>{t(`${kind}.count`, { count: labels.data.total })}</caption>
            <thead>
              <tr>
                <SortHeader label={t("name")} field="name" sort={sort} onSort={(s) => setSort(s as "name" | "-name")} />
                <th scope="col">{t("description")}</th>
                <th scope="col">{t("actions")}</th>
              </tr>
            </thead>
            <tbody>
              {labels.data.items.map((label) => (
                <tr key={label.id}>
                  <td>{label.name}</td>
                  <td>{label.description}</td>
                  <td>
<div className="actions">
                    <button type="button" className="secondary" aria-label={t("editOne", { name: label.name })} onClick={() => setEditing(label)}>
                      {t("edit")}
                    </button>
                    {kind === "competences" && (
                      <button
                        type="button"
                        className="secondary"
                        aria-label={t("competences.peopleWith", { name: label.name })}
                        onClick={() => setPeople(label)}
                      >
                        {t("competences.people")}
                      </button>
                    )}
                    <button
                      type="button"
                      className="danger"
                      aria-label={t("deleteOne", { name: label.name })}
                      onClick={() => {
                        if (window.confirm(t("confirmDelete", { name: label.name }))) remove.mutate(label);
                      }}
                    >
                      {t("delete")}
                    </button>
                  </div>
</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager offset={offset} limit={LIMIT} total={labels.data.total} onChange={setOffset} />
        </>
      )}
    </section>
  );
}

function LabelForm({ kind, label, onDone, onCancel }: { kind: Kind; label?: Label; onDone: () => void; onCancel: () => void }) {
  const { t } = useTranslation("administration");
  const [name, setName] = useState(label?.name ?? "");
  const [description, setDescription] = useState(label?.description ?? "");
  const save = useMutation({
    mutationFn: () => {
      const body = { name, description };
      if (label) {
        const params = { path: { label_id: label.id } };
        return kind === "competences"
          ? unwrap(api.PUT("/v1/competences/{label_id}", { params, body }))
          : unwrap(api.PUT("/v1/topics/{label_id}", { params, body }));
      }
      return kind === "competences" ? unwrap(api.POST("/v1/competences", { body })) : unwrap(api.POST("/v1/topics", { body }));
    },
    onSuccess: onDone,
  });
  const { fields, form } = save.error ? formErrors(save.error) : NO_ERRORS;
  const title = label ? t("editOne", { name: label.name }) : t(`${kind}.new`);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-label={title} noValidate>
      <h3>{title}</h3>
      <Field label={t("name")} error={fields.name}>
        <input value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      <Field label={t("description")} error={fields.description}>
        <input value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
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

/** Who has a competence: every Admin, Manager and Agent, ticked or not. */
function Holders({ label, onDone }: { label: Label; onDone: () => void }) {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const people = usePeople();
  const holders = useQuery({
    queryKey: ["labels", "competences", label.id, "users"],
    queryFn: () => unwrap(api.GET("/v1/competences/{label_id}/users", { params: { path: { label_id: label.id } } })),
  });
  const [chosen, setChosen] = useState<string[] | null>(null);
  const current = chosen ?? (holders.data ?? []).map((u) => u.user_id);
  const save = useMutation({
    mutationFn: () =>
      unwrap(api.PUT("/v1/competences/{label_id}/users", { params: { path: { label_id: label.id } }, body: { user_ids: current } })),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["users"] });
      void client.invalidateQueries({ queryKey: ["lookup", "people"] });
      onDone();
    },
  });
  const { fields, form } = save.error ? formErrors(save.error) : NO_ERRORS;
  if (holders.isPending || people.isPending) return <Loading />;
  const handlers = (people.data ?? []).filter((p) => p.role !== "analyst");
  return (
    <form
      className="panel"
      aria-label={t("competences.peopleOf", { name: label.name })}
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      <h3>{t("competences.peopleOf", { name: label.name })}</h3>
      <Checks
        legend={t("competences.people")}
        error={fields.user_ids}
        options={handlers.map((p) => [p.user_id, `${p.first_name} ${p.last_name}`])}
        chosen={current}
        onToggle={(id) => setChosen(current.includes(id) ? current.filter((v) => v !== id) : [...current, id])}
      />
      <FormError message={form} />
      <div className="actions">
        <button type="submit" disabled={save.isPending}>
          {t("save")}
        </button>
        <button type="button" className="secondary" onClick={onDone}>
          {t("cancel")}
        </button>
      </div>
    </form>
  );
}
