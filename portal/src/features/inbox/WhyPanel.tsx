/** Why the conversation is with its assignee: routing's verdict on each candidate, or who
 * dispatched or passed it on. */
import { useTranslation } from "react-i18next";
import { useSession } from "../../app/session";
import type { Assignment } from "./api";

export function WhyPanel({ assignment: a, assigneeId }: { assignment: Assignment; assigneeId?: string | null }) {
  const { t } = useTranslation("inbox");
  const { data: session } = useSession();
  const chosen = a.candidates.find((c) => c.chosen);
  const holder =
    assigneeId === session?.user_id ? t("you") : (chosen?.name ?? t("someone"));
  return (
    <details className="panel why" open>
      <summary>{t("why", { name: holder })}</summary>
      {a.assigned_by === "routing" ? (
        <>
          <p>
            {t("whyRouting", { name: holder })}
            {a.tie_break ? `: ${t(`tieBreak.${a.tie_break}`)}` : ""}.
          </p>
          {a.reroute_reason && <p>{t(`reroute.${a.reroute_reason}`)}</p>}
          <ul className="candidates">
            {a.candidates.map((c) => (
              <li key={c.user_id} className={c.chosen ? "chosen" : undefined}>
                <strong>{c.name ?? c.user_id}</strong>{" "}
                {c.excluded_by.length === 0
                  ? `— ${t("eligible")}, ${t("load", { count: c.load })}`
                  : `— ${c.excluded_by.map((reason) => t(`excluded.${reason}`)).join(", ")}`}
              </li>
            ))}
          </ul>
        </>
      ) : (
        <p>{t(a.assigned_by === "dispatch" ? "whyDispatch" : "whyAgent", { name: a.by_name ?? t("someone") })}</p>
      )}
    </details>
  );
}
