/**
 * History (Admin, Manager): handled conversations, searched by the seven filters of the
 * API (channel, language, topic, competence, end user, visitor, period), sorted and paged
 * on the server; a row opens the conversation read-only. The period is picked in local days
 * of the tenant's time zone and sent as the instants they start.
 */
import { useMemo, useState, type FormEvent } from "react";
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../../api/client";
import { Failed, Field, FormError, Loading } from "../../components";
import { useSession } from "../../app/session";
import { formErrors, NO_ERRORS } from "./errors";
import { useChannels, useCompetences, useTopics } from "./lookups";
import { nextDay, startOfDay } from "./period";
import { channelName, ConversationView, Pager, SortHeader, useDateTime, type Conversation } from "./ui";

const LIMIT = 25;
const EMPTY = { channel_id: "", language: "", topic: "", competence: "", end_user: "", visitor: "", from: "", to: "" };
type Filters = typeof EMPTY;

export default function HistoryScreen() {
  const { t } = useTranslation("history");
  const { data: session } = useSession();
  const zone = session?.time_zone || "Europe/Brussels";
  const when = useDateTime();
  const [typed, setTyped] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [sort, setSort] = useState("-opened_at");
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<string | null>(null);
  const [seen, setSeen] = useState<Record<string, string>>({});
  const channels = useChannels();
  const topics = useTopics();
  const competences = useCompetences();

  const query = useMemo(() => {
    const q: Record<string, string | number> = { sort, offset, limit: LIMIT };
    for (const key of ["channel_id", "language", "topic", "competence", "end_user", "visitor"] as const) {
      if (applied[key].trim()) q[key] = applied[key].trim();
    }
    if (applied.from) q.from = startOfDay(applied.from, zone);
    if (applied.to) q.to = startOfDay(nextDay(applied.to), zone);
    return q;
  }, [applied, sort, offset, zone]);

  const history = useQuery({
    queryKey: ["history", query],
    queryFn: async () => {
      const page = await unwrap(api.GET("/v1/history", { params: { query } }));
      setSeen((known) => {
        const more = { ...known };
        for (const item of page.items) more[item.channel_id] = item.channel_type;
        return more;
      });
      return page;
    },
    placeholderData: keepPreviousData,
  });

  const { fields, form } = history.error ? formErrors(history.error) : NO_ERRORS;
  const set = (key: keyof Filters) => (event: { target: { value: string } }) =>
    setTyped((current) => ({ ...current, [key]: event.target.value }));
  const client = useQueryClient();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setOffset(0);
    setApplied(typed);
    void client.invalidateQueries({ queryKey: ["history"] });
  };
  const channelOptions: [string, string][] =
    channels.data && channels.data.length > 0
      ? channels.data.map((channel) => [channel.channel_id, `${channel.name} (${channel.channel_type})`])
      : Object.entries(seen).map(([id, type]) => [id, channelName(t, type)]);
  const languages = ["nl", "fr", "en"];

  return (
    <section aria-labelledby="history-title">
      <h1 id="history-title">{t("title")}</h1>
      <form onSubmit={submit} aria-label={t("filters")}>
        <div className="filters">
          <Field label={t("channel")} error={fields.channel_id}>
            <select value={typed.channel_id} onChange={set("channel_id")}>
              <option value="">{t("any")}</option>
              {channelOptions.map(([id, name]) => (
                <option key={id} value={id}>
                  {name}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("language")} error={fields.language}>
            <input list="history-languages" value={typed.language} onChange={set("language")} />
          </Field>
          <datalist id="history-languages">
            {languages.map((language) => (
              <option key={language} value={language} />
            ))}
          </datalist>
          <Field label={t("topic")} error={fields.topic}>
            <select value={typed.topic} onChange={set("topic")}>
              <option value="">{t("any")}</option>
              {(topics.data ?? []).map((topic) => (
                <option key={topic.id} value={topic.name}>
                  {topic.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("competence")} error={fields.competence}>
            <input list="history-competences" value={typed.competence} onChange={set("competence")} />
          </Field>
          <datalist id="history-competences">
            {(competences.data ?? []).map((competence) => (
              <option key={competence.id} value={competence.name} />
            ))}
          </datalist>
          <Field label={t("endUser")} error={fields.end_user}>
            <input value={typed.end_user} onChange={set("end_user")} />
          </Field>
          <Field label={t("visitor")} error={fields.visitor}>
            <input value={typed.visitor} onChange={set("visitor")} />
          </Field>
          <Field label={t("from")} error={fields.from} hint={t("zone", { zone })}>
            <input type="date" value={typed.from} onChange={set("from")} />
          </Field>
          <Field label={t("to")} error={fields.to}>
            <input type="date" value={typed.to} onChange={set("to")} />
          </Field>
        </div>
        <div className="actions">
          <button type="submit">{t("search")}</button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setTyped(EMPTY);
              setApplied(EMPTY);
              setOffset(0);
            }}
          >
            {t("reset")}
          </button>
        </div>
      </form>
      <FormError message={form} />
      {history.isPending ? (
        <Loading />
      ) : history.error && !history.data ? (
        form ? null : <Failed error={history.error} retry={() => void history.refetch()} />
      ) : history.data ? (
        <>
          <table className="data">
            <caption>{t("results", { count: history.data.total })}</caption>
            <thead>
              <tr>
                <SortHeader label={t("opened")} field="opened_at" sort={sort} onSort={setSort} />
                <SortHeader label={t("closed")} field="closed_at" sort={sort} onSort={setSort} />
                <SortHeader label={t("channel")} field="channel" sort={sort} onSort={setSort} />
                <SortHeader label={t("language")} field="language" sort={sort} onSort={setSort} />
                <th scope="col">{t("topics")}</th>
                <th scope="col">{t("preview")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("open")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {history.data.items.map((item: Conversation) => (
                <tr key={item.conversation_id} className={open === item.conversation_id ? "selected" : undefined}>
                  <td className="nowrap">{when(item.opened_at)}</td>
                  <td className="nowrap">{when(item.closed_at)}</td>
                  <td>{channelName(t, item.channel_type)}</td>
                  <td>{item.language}</td>
                  <td>{item.topics.join(", ")}</td>
                  <td>{item.preview}</td>
                  <td>
                    <button
                      type="button"
                      className="secondary"
                      onClick={() => setOpen(item.conversation_id)}
                      aria-label={t("openOne", { preview: item.preview ?? item.conversation_id })}
                    >
                      {t("open")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager offset={offset} limit={LIMIT} total={history.data.total} onChange={setOffset} />
        </>
      ) : null}
      {open && <ConversationView id={open} onClose={() => setOpen(null)} />}
    </section>
  );
}
