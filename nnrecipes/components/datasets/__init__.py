"""``dataset=...``: each module declares data sets, with a loader returning ``data.RawData``
(the splitting, statistics and tensors are the data layer's, ``nnrecipes.data.build_data``)."""
