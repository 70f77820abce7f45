/**
 * Administration (Administrator): one route per part, so each can be linked and reloaded.
 */
import { NavLink, Navigate, Route, Routes } from "react-router";
import { useTranslation } from "react-i18next";
import "../history/ui.css";
import { Channels } from "./Channels";
import { Chatbots } from "./Chatbots";
import { Labels } from "./Labels";
import { GeneralSettings, OfficeHoursSettings } from "./Settings";
import { Users } from "./Users";

const PARTS = ["users", "competences", "topics", "channels", "general", "office-hours", "chatbots"] as const;

export default function AdministrationScreen() {
  const { t } = useTranslation("administration");
  return (
    <section aria-labelledby="administration-title">
      <h1 id="administration-title">{t("title")}</h1>
      <nav aria-label={t("parts")}>
        <ul className="tabs">
          {PARTS.map((part) => (
            <li key={part} style={{ listStyle: "none" }}>
              <NavLink to={`/administration/${part}`} className="tab-link">
                {t(`part.${part}`)}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Routes>
        <Route index element={<Navigate to="users" replace />} />
        <Route path="users" element={<Users />} />
        <Route path="competences" element={<Labels kind="competences" />} />
        <Route path="topics" element={<Labels kind="topics" />} />
        <Route path="channels" element={<Channels />} />
        <Route path="general" element={<GeneralSettings />} />
        <Route path="office-hours" element={<OfficeHoursSettings />} />
        <Route path="chatbots" element={<Chatbots />} />
      </Routes>
    </section>
  );
}
