"""One translator per provider wire protocol (request, response, stream), side by side.

Each module turns an OpenAI chat/completions body into its provider's request and the
provider's answers (buffered or streamed) back into OpenAI bodies and `chat.completion.chunk`
events, so the dispatcher never knows which protocol it called.
"""
