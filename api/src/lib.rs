//! Ollama and OpenAI wire types shared by the daemon and ollmlxctl.
