"""Stepwise, tool-using agents over HTTP model APIs.

``anthropic`` (Messages), ``openai`` (Responses), ``openai-compatible``
(Chat Completions: vLLM, Ollama, llama.cpp) and ``gemini-api``
(generateContent), built on httpx with an injectable transport and retries
that honour ``retry-after``.
"""

from hpdream_runner.agents.http._agent import HttpAgent, StepOutcome, make_http_agent
from hpdream_runner.agents.http._client import (
    ApiClient,
    ApiError,
    FatalApiError,
    RetriesExhausted,
    RetryAttempt,
    RetryPolicy,
    classify_anthropic,
    classify_gemini,
    classify_openai,
    parse_retry_after,
)
from hpdream_runner.agents.http._providers import (
    COMMON_HTTP_OPTIONS,
    PROVIDERS,
    AnthropicProvider,
    ChatCompletionsProvider,
    GeminiProvider,
    OpenAIResponsesProvider,
    Provider,
    Reply,
    ToolResult,
)
from hpdream_runner.agents.http._stepwise import HttpStepwiseAgent, agent_specs
from hpdream_runner.agents.http._tools import (
    TOOLS,
    Proposal,
    ToolCall,
    ToolSpec,
    WorkspaceTools,
    describe_result,
    format_log,
)

__all__ = [
    "COMMON_HTTP_OPTIONS",
    "PROVIDERS",
    "TOOLS",
    "AnthropicProvider",
    "ApiClient",
    "ApiError",
    "ChatCompletionsProvider",
    "FatalApiError",
    "GeminiProvider",
    "HttpAgent",
    "HttpStepwiseAgent",
    "OpenAIResponsesProvider",
    "Proposal",
    "Provider",
    "Reply",
    "RetriesExhausted",
    "RetryAttempt",
    "RetryPolicy",
    "StepOutcome",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "WorkspaceTools",
    "agent_specs",
    "classify_anthropic",
    "classify_gemini",
    "classify_openai",
    "describe_result",
    "format_log",
    "make_http_agent",
    "parse_retry_after",
]
