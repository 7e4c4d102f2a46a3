"""Response rules: scripted answers for requests that match, played alone or in sequence.

steps, scope, when_exhausted = parse_action({"text": "Hello"})  # actions: a rule's steps
rule = Rule("greet", Match(last_user="hi"), steps)              # matching: when a rule answers
rule = RuleSet(rules).first_match(request, facts)               # facts: headers and API key
step = local_sequences.next_action(rule, request, facts)        # sequences: which step plays now
"""

from simulator.engine.rules.actions import (
    Action,
    RuleError,
    ScriptedError,
    ScriptedToolCall,
    parse_action,
    parse_step,
)
from simulator.engine.rules.matching import (
    NO_RULES,
    RULE_TEXT_CHARS,
    Facts,
    Match,
    RequestFacts,
    Rule,
    RuleSet,
    check_regex,
    describe,
)
from simulator.engine.rules.sequences import (
    SequenceExhausted,
    Sequences,
    conversation_key,
    is_sequence,
    local_sequences,
    position_key,
    step_at,
)

__all__ = [
    "NO_RULES",
    "RULE_TEXT_CHARS",
    "Action",
    "Facts",
    "Match",
    "RequestFacts",
    "Rule",
    "RuleError",
    "RuleSet",
    "ScriptedError",
    "ScriptedToolCall",
    "SequenceExhausted",
    "Sequences",
    "check_regex",
    "conversation_key",
    "describe",
    "is_sequence",
    "local_sequences",
    "parse_action",
    "parse_step",
    "position_key",
    "step_at",
]
