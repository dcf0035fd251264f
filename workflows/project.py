"""ProjectWorkflow, id `project-{code}`: the project's life as a sequence of phase workflows.

Thin by design: it holds the phase, runs that phase's child workflow (`project-{code}-{phase}-{n}`) and,
when the child ends, continues as new into the next phase carrying one `ProjectState`. A few events per
phase; every rule and every human step lives in the children. A phase workflow that fails (a defect, not a
refusal) blocks the project visibly until an operator retries it, which starts the phase again.

Operation (`OperationWorkflow`, one run per fiscal year, until disposal), and later disposal, attach here as
further phases: `PHASES` names each phase's workflow and `NEXT` where the project goes after it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError, FailureError

from domain.enums import Phase, SignalName, Stage, UpdateName
from domain.payloads import RetryInput
from domain.phases import PhaseResult, ProjectState, ProjectView
from workflows.steps import Steps, refuse

# A phase workflow's task must finish within this, or another worker takes it (a killed worker's task): the same
# 4 s as core.temporal.WORKFLOW_TASK_TIMEOUT, which says why. It is an attribute of the start-child command that
# replay does not compare (histories recorded with 4 s and 6 s both replay).
CHILD_TASK_TIMEOUT = timedelta(seconds=4)
# The phase workflows by their registered names (not imported: a ProjectWorkflow's sandbox then loads only
# its own module; tests/workflows/test_phase_workflows.py checks the names against the registered types).
PHASES: dict[Phase, str] = {
    Phase.APPROVAL: "ApprovalWorkflow",
    Phase.CONSTRUCTION: "ConstructionWorkflow",
    Phase.REGISTRATION: "RegistrationWorkflow",
    Phase.OPERATION: "OperationWorkflow",
}
NEXT: dict[Phase, Phase] = {
    Phase.APPROVAL: Phase.CONSTRUCTION,
    Phase.CONSTRUCTION: Phase.REGISTRATION,
    Phase.REGISTRATION: Phase.OPERATION,
}
# Where a phase's end leaves a project for good.
FINAL = {Stage.REJECTED: "rejected", Stage.CLOSED: "closed"}


def child_id(code: str, phase: Phase, attempt: int) -> str:
    """The id of a phase's workflow, derived from the project's (`project-{code}`)."""
    return f"project-{code}-{phase.value}-{attempt}"


@workflow.defn
class ProjectWorkflow:
    """Runs a project's phases one after the other, continuing as new at each boundary."""

    @workflow.init
    def __init__(self, state: ProjectState) -> None:
        self._state = state
        self._steps = Steps(state.start)
        self._child = ""
        self._operate = False

    @workflow.run
    async def run(self, state: ProjectState) -> str:
        """Run this phase's workflow; go on to the next phase, or end where the project ended."""
        phase = Phase(state.phase)
        # A run that reached operation before OperationWorkflow existed waits here (its history replays so) until
        # `assetflow workflows start-operations` signals it to start its OperationWorkflow.
        if phase not in PHASES or (phase == Phase.OPERATION and not workflow.patched("operation-v1")):
            await workflow.wait_condition(lambda: self._operate and phase in PHASES)
        self._child = child_id(state.start.code, phase, state.attempt)
        try:
            result: PhaseResult = await workflow.execute_child_workflow(
                PHASES[phase],
                state.phase_input(),
                id=self._child,
                task_timeout=CHILD_TASK_TIMEOUT,
                result_type=PhaseResult,
            )
        except ChildWorkflowError as err:
            cause = err.cause
            reason = cause.message if isinstance(cause, FailureError) else str(cause or err)
            await self._steps.hold(f"{phase.value} workflow", reason, permanent=True)
            await self._steps.cleared()
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(replace(state, attempt=state.attempt + 1))
        await workflow.wait_condition(workflow.all_handlers_finished)
        end = result.stage
        if end in FINAL:
            return FINAL[end]
        workflow.continue_as_new(
            ProjectState(
                start=state.start,
                phase=NEXT[phase],
                round=result.round,
                revisions=result.revisions,
                deciders=result.deciders,
                opinions=result.opinions,
            )
        )

    @workflow.signal(name=SignalName.START_OPERATION)
    def start_operation(self) -> None:
        """A run waiting in operation from before OperationWorkflow existed starts it now (no effect otherwise)."""
        self._operate = True

    @workflow.update(name=UpdateName.RETRY_BLOCKED)
    def retry_blocked(self, inp: RetryInput) -> str:
        """An operator starts a failed phase again (after its cause is fixed)."""
        return self._steps.retry()

    @retry_blocked.validator
    def _validate_retry(self, inp: RetryInput) -> None:
        refuse(self._steps.retry_refusal(inp))

    @workflow.query
    def get_status(self) -> ProjectView:
        """The phase the project is in and the workflow that takes its Updates."""
        return ProjectView(
            code=self._state.start.code,
            phase=Phase(self._state.phase).value,
            child_id=self._child,
            round=self._state.round,
        )
