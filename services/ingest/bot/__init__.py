"""The chatbot connector (SPEC §3.2): the channel's bot answers visitor messages first."""
