"""Small and large models: recommenders and classifiers shared by every direction."""

from tandem.models.next_item import WindowRecommender, count_parameters

__all__ = ["WindowRecommender", "count_parameters"]
