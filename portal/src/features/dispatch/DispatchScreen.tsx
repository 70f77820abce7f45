/**
 * Dispatch (Admin, Manager): the tenant's waiting conversations (oldest first) or every open
 * one; a manager assigns one to a person (it lands in that person's queue) or changes what
 * it needs (language, competences) so routing sends it on. Live: any conversation event
 * refreshes the list.
 */
import { useState } from "react";
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../../api/client";
import { useLiveEvents } from "../../api/events";
import { Failed, Loading } from "../../components";
import { useColleagues } from "../history/lookups";
import { channelName, ConversationView, Pager, useDateTime, type Conversation } from "../history/ui";
import { AssignForm, RequirementsForm } from "./forms";

const LIMIT = 50;
type Status = "waiting" | "open";

export default function DispatchScreen() {
  const { t } = useTranslation("dispatch");
  const when = useDateTime();
  const client = useQueryClient();
  const [status, setStatus] = useState<Status>("waiting");
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const people = useColleagues();
  const list = useQuery({
    queryKey: ["dispatch", status, offset],
    queryFn: () =>
      unwrap(api.GET("/v1/dispatch/conversations", { params: { query: { status, offset, limit: LIMIT } } })),
    placeholderData: keepPreviousData,
  });
  useLiveEvents(() => {
    void client.invalidateQueries({ queryKey: ["dispatch"] });
  });
  const name = (id: string | null) => {
    if (!id) return "—";
    const person = (people.data ?? []).find((p) => p.user_id === id);
    return person ? `${person.first_name} ${person.last_name}` : id.slice(0, 8);
  };
  const chosen = list.data?.items.find((item) => item.conversation_id === selected);

  return (
    <section aria-labelledby="dispatch-title">
      <h1 id="dispatch-title">{t("title")}</h1>
      <div className="tabs" role="tablist" aria-label={t("which")}>
        {(["waiting", "open"] as const).map((value) => (
          <button
            key={value}
            type="button"
            role="tab"
            id={`dispatch-tab-${value}`}
            aria-selected={status === value}
            aria-controls="dispatch-list"
            onClick={() => {
              setStatus(value);
              setOffset(0);
            }}
          >
            {t(value)}
          </button>
        ))}
      </div>
      <div id="dispatch-list" role="tabpanel" aria-labelledby={`dispatch-tab-${status}`}>
        {list.isPending ? (
          <Loading />
        ) : list.error ? (
          <Failed error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <p>{t("none")}</p>
        ) : (
          <>
            <table className="data">
              <caption>{t("count", { count: list.data.total })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("opened")}</th>
                  <th scope="col">{t("channel")}</th>
                  <th scope="col">{t("language")}</th>
                  <th scope="col">{t("status")}</th>
                  <th scope="col">{t("assignee")}</th>
                  <th scope="col">{t("competences")}</th>
                  <th scope="col">{t("preview")}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t("manage")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((item: Conversation) => (
                  <tr key={item.conversation_id} className={selected === item.conversation_id ? "selected" : undefined}>
                    <td className="nowrap">{when(item.opened_at)}</td>
                    <td>{channelName(t, item.channel_type)}</td>
                    <td>{item.language}</td>
                    <td>{t(`statuses.${item.status}`, { ns: "history" })}</td>
                    <td>{name(item.assignee_id)}</td>
                    <td>{item.competences.map((competence) => competence.name).join(", ")}</td>
                    <td>{item.preview}</td>
                    <td>
                      <button
                        type="button"
                        className="secondary"
                        aria-label={t("manageOne", { preview: item.preview ?? item.conversation_id })}
                        onClick={() => setSelected(item.conversation_id)}
                      >
                        {t("manage")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager offset={offset} limit={LIMIT} total={list.data.total} onChange={setOffset} />
          </>
        )}
      </div>
      {selected && (
        <div className="columns">
          <div>
            <AssignForm
              key={`assign-${selected}`}
              conversationId={selected}
              people={people.data ?? []}
              onDone={() => setSelected(null)}
            />
            <RequirementsForm
              key={`requirements-${selected}`}
              conversationId={selected}
              current={chosen}
            />
          </div>
          <ConversationView id={selected} onClose={() => setSelected(null)} />
        </div>
      )}
    </section>
  );
}
