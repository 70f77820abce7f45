import type { FeatureMessages } from "../../app/feature";

const messages: FeatureMessages = {
  nl: { nav: "Inbox", title: "Inbox" },
  fr: { nav: "Boîte de réception", title: "Boîte de réception" },
  en: { nav: "Inbox", title: "Inbox" },
};

export default messages;
