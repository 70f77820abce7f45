/**
 * The FAQ (every role): the operator's questions and answers, searched on the server
 * (`GET /v1/faq?q=`) so the search means the same everywhere.
 */
import { useState, type FormEvent } from "react";
import { useQuery, keepPreviousData } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import "../history/ui.css";
import { api, unwrap } from "../../api/client";
import { Failed, Loading } from "../../components";

export default function FaqScreen() {
  const { t } = useTranslation("faq");
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  const faq = useQuery({
    queryKey: ["faq", q],
    queryFn: () => unwrap(api.GET("/v1/faq", { params: { query: { q: q || undefined, limit: 200 } } })),
    placeholderData: keepPreviousData,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setQ(typed.trim());
  };
  return (
    <section aria-labelledby="faq-title">
      <h1 id="faq-title">{t("title")}</h1>
      <form role="search" onSubmit={submit} className="toolbar">
        <label htmlFor="faq-q">{t("search")}</label>
        <input id="faq-q" type="search" value={typed} onChange={(e) => setTyped(e.target.value)} />
        <button type="submit">{t("searchButton")}</button>
      </form>
      {faq.isPending ? (
        <Loading />
      ) : faq.error ? (
        <Failed error={faq.error} retry={() => void faq.refetch()} />
      ) : faq.data.items.length === 0 ? (
        <p>{t("none")}</p>
      ) : (
        <>
          <p className="muted" aria-live="polite">
            {t("count", { count: faq.data.total })}
          </p>
          <dl className="faq">
            {faq.data.items.map((entry) => (
              <div key={entry.id}>
                <dt>{entry.question}</dt>
                <dd>{entry.answer}</dd>
              </div>
            ))}
          </dl>
        </>
      )}
    </section>
  );
}
