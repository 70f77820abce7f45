/** The visitor's profile (first/last name, email, birth date, phone, mobile) and earlier
 * conversations on the same channel. Only changed fields are sent; an empty field clears. */
import { useEffect } from "react";
import { useForm } from "react-hook-form";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { useQueryClient } from "@tanstack/react-query";
import { useMutation } from "@tanstack/react-query";
import { Failed, Field, FormError, Loading, useDateTime } from "../../components";
import { fieldErrors } from "../../api/client";
import { commands, keys, useVisitor, type Visitor, type VisitorProfile } from "./api";
import { EraseVisitor } from "./EraseVisitor";

const FIELDS = ["first_name", "last_name", "email", "birth_date", "phone", "mobile"] as const;
type ProfileField = (typeof FIELDS)[number];
type Form = Record<ProfileField, string>;
const LABELS: Record<ProfileField, string> = {
  first_name: "firstName",
  last_name: "lastName",
  email: "email",
  birth_date: "birthDate",
  phone: "phone",
  mobile: "mobile",
};
const TYPES: Partial<Record<ProfileField, string>> = { email: "email", birth_date: "date", phone: "tel", mobile: "tel" };

function values(visitor: Visitor): Form {
  return Object.fromEntries(FIELDS.map((name) => [name, visitor[name] ?? ""])) as Form;
}

export function VisitorPanel({ visitorId, conversationId }: { visitorId: string; conversationId: string }) {
  const { t } = useTranslation("inbox");
  const when = useDateTime();
  const client = useQueryClient();
  const visitor = useVisitor(visitorId);
  const form = useForm<Form>();
  const { register, handleSubmit, reset, setError, formState } = form;
  useEffect(() => {
    if (visitor.data) reset(values(visitor.data));
  }, [visitor.data, reset]);
  const save = useMutation({
    mutationFn: (profile: VisitorProfile) => commands.saveVisitor(visitorId, profile),
    onSuccess: (saved) => {
      client.setQueryData(keys.visitor(visitorId), saved);
    },
    onError: (error) => {
      const { fields } = fieldErrors(error);
      for (const [name, message] of Object.entries(fields)) {
        if ((FIELDS as readonly string[]).includes(name)) setError(name as ProfileField, { message });
      }
    },
  });
  if (visitor.isPending) return <Loading />;
  if (visitor.error) return <Failed error={visitor.error} retry={() => void visitor.refetch()} />;
  const v = visitor.data;
  const submitted = handleSubmit((data) => {
    const dirty = formState.dirtyFields;
    const changes: Record<string, string | null> = {};
    for (const name of FIELDS) if (dirty[name]) changes[name] = data[name].trim() === "" ? null : data[name].trim();
    if (Object.keys(changes).length) save.mutate(changes as VisitorProfile);
  });
  const formMessage = save.error ? fieldErrors(save.error).form : undefined;
  const earlier = v.earlier_conversations.filter((c) => c.conversation_id !== conversationId);
  return (
    <section className="panel" aria-labelledby="visitor-title">
      <h3 id="visitor-title">
        {t("visitor")}
        {[v.first_name, v.last_name].filter(Boolean).join(" ") || v.name
          ? `: ${[v.first_name, v.last_name].filter(Boolean).join(" ") || v.name}`
          : ""}
      </h3>
      <form onSubmit={submitted} noValidate>
        {FIELDS.map((name) => (
          <Field key={name} label={t(LABELS[name])} error={formState.errors[name]?.message}>
            <input type={TYPES[name] ?? "text"} {...register(name)} />
          </Field>
        ))}
        <FormError message={formMessage} />
        <button type="submit" className="secondary" disabled={save.isPending}>
          {t("saveProfile")}
        </button>
        {save.isSuccess && !formState.isDirty && (
          <span className="ok" role="status">
            {" "}
            {t("saved")}
          </span>
        )}
      </form>
      <EraseVisitor visitor={v} conversationId={conversationId} />
      <h4>{t("earlier")}</h4>
      {earlier.length === 0 ? (
        <p className="muted">{t("noEarlier")}</p>
      ) : (
        <ul className="earlier">
          {earlier.map((c) => (
            <li key={c.conversation_id}>
              <Link to={`/inbox/${c.conversation_id}`}>
                {when(c.opened_at)} · {t(`status.${c.status}`)} · {c.preview ?? ""}
              </Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
