"""What Lambda passes the handler as `context`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    """What Lambda passes as `context`, with a real deadline: the time left shrinks as it runs."""

    timeout_ms: int = 30_000
    function_name: str = "size-recorder"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:size-recorder"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))
